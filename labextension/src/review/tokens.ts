/**
 * Shapes of the Review capability's `/mlops/api/review…` replies (the REST contract
 * of issue #6), and the ids the review frontend shares.
 */

/**
 * A revision: `HEAD`, `INDEX`, `WORKING` (the working copy), a git ref or commit,
 * `merge-base:BRANCH`, or (outside git) `CHECKPOINT`.
 */
export type Revision = string;

export const HEAD: Revision = 'HEAD';
export const INDEX: Revision = 'INDEX';
export const WORKING: Revision = 'WORKING';
/** Outside git: the notebook's last checkpoint (what HEAD means there). */
export const CHECKPOINT: Revision = 'CHECKPOINT';

/** A notebook's state in the working tree. */
export type ChangeStatus =
  'modified' | 'added' | 'deleted' | 'renamed' | 'untracked' | 'conflicted';

/** A changed notebook of the working tree. */
export interface IChangedNotebook {
  /** Relative to the server root. */
  path: string;
  status: ChangeStatus;
  /** The path before a rename. */
  old_path: string | null;
}

/** The overall state of a review. */
export type ReviewState = 'open' | 'approved' | 'changes_requested';

/** What one reviewer last said. */
export type ReviewerState = 'commented' | 'approved' | 'changes_requested';

export interface IReviewer {
  user: string;
  state: ReviewerState;
  /** The head commit the reviewer's state is tied to. */
  commit: string | null;
  /** ISO time. */
  at: string;
}

/** A review of a notebook's change between two revisions. */
export interface IReviewSummary {
  path: string;
  base: Revision;
  head: Revision;
  head_commit: string | null;
  state: ReviewState;
  reviewers: IReviewer[];
  threads: number;
  open_threads: number;
  /** Why the review cannot be read now (e.g. its head branch was deleted). */
  error?: string;
}

/** `GET review/changes?path=FOLDER` */
export interface IChangesReply {
  git: boolean;
  notebooks: IChangedNotebook[];
  reviews: IReviewSummary[];
  /** Review files that are not valid events (skipped), relative to the server root. */
  unreadable: string[];
}

/** How a cell, or a line of its source, differs. */
export type CellStatus =
  'unchanged' | 'added' | 'removed' | 'modified' | 'moved';

export type LineOp = 'equal' | 'insert' | 'delete' | 'replace';

/** A `[start, end)` span of characters (code points) in one line. */
export type Span = [number, number];

/** A span inside a replaced line. */
export interface IInlineChange {
  op: 'equal' | 'insert' | 'delete';
  base: Span | null;
  head: Span | null;
}

/** One line of a source diff; line numbers count from 1. */
export interface ILineDiff {
  op: LineOp;
  base_line: number | null;
  head_line: number | null;
  base_text: string | null;
  head_text: string | null;
  /** For `replace` lines: what changed within the line. */
  inline: IInlineChange[] | null;
}

/** An nbformat output (stream, display_data, execute_result, error). */
export interface INotebookOutput {
  output_type: string;
  [key: string]: unknown;
}

/** How one cell differs between the two revisions. */
export interface ICellDiff {
  status: CellStatus;
  cell_id: string | null;
  cell_type: string;
  base_index: number | null;
  head_index: number | null;
  base_source: string | null;
  head_source: string | null;
  lines: ILineDiff[];
  outputs_changed: boolean;
  base_outputs: INotebookOutput[];
  head_outputs: INotebookOutput[];
  metadata_changed: boolean;
  /** A markdown cell's attachments on each side (name → mime bundle). */
  base_attachments: Record<string, Record<string, unknown>>;
  head_attachments: Record<string, Record<string, unknown>>;
}

/** One side of a diff: the revision asked for, the commit it resolved to, a label. */
export interface IRevisionInfo {
  rev: Revision;
  commit: string | null;
  label: string;
}

export interface IDiffSummary {
  added: number;
  removed: number;
  modified: number;
  moved: number;
  unchanged: number;
  outputs_changed: number;
}

/** `GET review/diff?path=NB&base=REV&head=REV&outputs=…&metadata=…&execution_counts=…` */
export interface IDiffReply {
  path: string;
  /** The notebook's change as a whole: modified, added, deleted, renamed, unchanged. */
  status?: string;
  base: IRevisionInfo;
  head: IRevisionInfo;
  summary: IDiffSummary;
  cells: ICellDiff[];
  elapsed_ms: number;
}

/** What the diff compares besides sources; each toggle refetches the diff. */
export interface IDiffFilters {
  outputs: boolean;
  metadata: boolean;
  execution_counts: boolean;
}

export const DEFAULT_FILTERS: IDiffFilters = {
  outputs: true,
  metadata: false,
  execution_counts: false
};

export interface IComment {
  id: string;
  author: string;
  text: string;
  /** ISO time. */
  created_at: string;
  /** The cell's source the commenter suggests. */
  suggestion: string | null;
  applied: boolean;
}

/** A comment thread anchored to a cell (and a line range or an output of it). */
export interface IThread {
  id: string;
  cell_id: string | null;
  line: number | null;
  end_line: number | null;
  output: number | null;
  status: 'open' | 'resolved';
  /** Its anchor is gone: the cell or the lines changed after the comment. */
  outdated: boolean;
  /** Where the anchored cell is now in the head notebook. */
  head_index: number | null;
  /** head: lines of the newer revision; base: deleted lines (numbered as in the base) or a removed cell. */
  side: CommentSide;
  comments: IComment[];
}

/** Which revision a comment's lines are numbered in. */
export type CommentSide = 'head' | 'base';

/** `GET review?path=NB&base=&head=` */
export interface IReview extends Omit<IReviewSummary, 'threads'> {
  /** The user the server knows this browser as. */
  me: string;
  threads: IThread[];
  /** This review's files that are not valid events (skipped). */
  unreadable: string[];
}

export interface IReviewReply {
  review: IReview;
}

export interface IThreadReply {
  thread: IThread;
}

/** What a new comment is anchored to. */
export interface ICommentAnchor {
  cell_id: string;
  line?: number;
  end_line?: number;
  output?: number;
  /** base: deleted lines or a removed cell (default head). */
  side?: CommentSide;
}

export namespace ReviewCommandIDs {
  /** Open the diff view of a notebook: args `{path?, base?, head?}` (path: the notebook in use). */
  export const openReview = 'mlops:open-review';
  /** Compare two notebook files: args `{base?, head?}` (default: the two selected in the file browser). */
  export const compareFiles = 'mlops:review-compare';
}
