/**
 * Shapes of the merge routes of the Review capability (issue #15): the conflicts a
 * three-way merge recorded in a notebook's cells (`metadata.mlops.conflict`), and how
 * the Merge view resolves them.
 */

/** What two sides disagree on in one cell. */
export type ConflictKind =
  'source' | 'outputs' | 'metadata' | 'deleted-vs-modified' | 'both-added';

/** One side's cell; null when that side has no such cell. */
export interface IConflictSide {
  cell_type: string;
  source: string;
  outputs?: { output_type: string; [key: string]: unknown }[];
  metadata?: Record<string, unknown>;
}

/** A conflict as `GET review/conflicts` lists it. */
export interface IConflict {
  id: string;
  /** Where the (local) cell is in the notebook on disk. */
  cell_index: number;
  cell_id: string | null;
  kind: ConflictKind;
  base: IConflictSide | null;
  local: IConflictSide | null;
  remote: IConflictSide | null;
  note: string | null;
}

/** `GET review/conflicts?path=NB` */
export interface IConflictsReply {
  path: string;
  conflicts: IConflict[];
}

/** How one conflict is resolved: a side, both, or a source written by hand. */
export type Take = 'local' | 'remote' | 'both' | 'edit';

export interface IResolution {
  id: string;
  take: Take;
  /** The cell's source, for `edit`. */
  source?: string;
}

/** `POST review/conflicts/resolve {path, resolutions, stage}` */
export interface IResolveReply {
  path: string;
  /** Conflicts still in the notebook. */
  remaining: number;
  /** Whether the notebook was `git add`ed. */
  staged: boolean;
  message: string;
}

/** The record a conflicted cell carries in `metadata.mlops.conflict`. */
export interface IConflictRecord {
  id?: string;
  kind?: ConflictKind | string;
  note?: string | null;
}

export namespace MergeCommandIDs {
  /** Open the Merge view of a notebook: args `{path?}` (path: the notebook in use). */
  export const openMerge = 'mlops:review-merge';
}
