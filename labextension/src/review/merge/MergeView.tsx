import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { OutputsDiff } from '../components/OutputsDiff';
import { SourceDiff } from '../components/SourceDiff';
import { ICellDiff, INotebookOutput } from '../tokens';
import { sideDiff } from './lines';
import { IChoice, MergeModel, takesFor } from './model';
import { ConflictKind, IConflict, IConflictSide, Take } from './tokens';

/** No line carries a thread in the Merge view. */
const NO_LINES: ReadonlySet<number> = new Set();

export interface IMergeViewProps {
  model: MergeModel;
  rendermime: IRenderMimeRegistry;
  trans: TranslationBundle;
}

/**
 * The Merge view of a notebook: each conflict a three-way merge left in it, cell by
 * cell, with what each side did to the base; a choice per conflict (take local, take
 * remote, take both, edit), then one write that resolves them and stages the notebook.
 */
export function MergeView(props: IMergeViewProps): JSX.Element {
  const { model, rendermime, trans } = props;
  const conflicts = model.conflicts;
  const result = model.result;
  return (
    <div className="jp-mlops-merge-view">
      <div className="jp-mlops-merge-top">
        <span className="jp-mlops-merge-title">{model.path}</span>
        {conflicts && (
          <span className="jp-mlops-merge-count">
            {trans._n(
              '%1 conflict, %2 chosen',
              '%1 conflicts, %2 chosen',
              conflicts.length,
              model.chosen
            )}
          </span>
        )}
        <span className="jp-mlops-review-spacer" />
        <button
          type="button"
          className="jp-mlops-review-button jp-mlops-merge-reload"
          disabled={model.isLoading || model.isWriting}
          title={trans.__('Read the conflicts of the notebook on disk again')}
          onClick={() => void model.load()}
        >
          {trans.__('Reload')}
        </button>
        <button
          type="button"
          className="jp-mlops-review-button jp-mod-accept jp-mlops-merge-write"
          disabled={model.chosen === 0 || model.isWriting}
          title={trans.__(
            'Write the chosen resolutions to the notebook; once no conflict is left, git add it'
          )}
          onClick={() => void model.write()}
        >
          {model.isWriting ? trans.__('Writing…') : trans.__('Write and stage')}
        </button>
      </div>
      {model.error && (
        <div className="jp-mlops-review-error" role="alert">
          {model.error}
        </div>
      )}
      {result && (
        <div
          className="jp-mlops-merge-result"
          role="status"
          data-remaining={result.remaining}
          data-staged={result.staged ? 'true' : 'false'}
        >
          {result.message}
        </div>
      )}
      {!conflicts && !model.error && (
        <div className="jp-mlops-review-loading">
          {trans.__('Reading the conflicts…')}
        </div>
      )}
      {conflicts && conflicts.length === 0 && (
        <div className="jp-mlops-review-none jp-mlops-merge-none">
          {trans.__('No merge conflict left in this notebook.')}
        </div>
      )}
      {conflicts?.map((conflict, i) => (
        <ConflictView
          key={conflict.id}
          conflict={conflict}
          number={i + 1}
          choice={model.choice(conflict.id)}
          onChoose={choice => model.choose(conflict.id, choice)}
          rendermime={rendermime}
          trans={trans}
        />
      ))}
    </div>
  );
}

/** One conflict: what local and remote did to the base, and the choice made. */
function ConflictView(props: {
  conflict: IConflict;
  number: number;
  choice: IChoice | null;
  onChoose: (choice: IChoice | null) => void;
  rendermime: IRenderMimeRegistry;
  trans: TranslationBundle;
}): JSX.Element {
  const { conflict, choice, rendermime, trans } = props;
  const text = conflict.kind === 'metadata' ? metadataText : sourceText;
  const local = React.useMemo(
    () => sideDiff(conflict.base, conflict.local, text),
    [conflict, text]
  );
  const remote = React.useMemo(
    () => sideDiff(conflict.base, conflict.remote, text),
    [conflict, text]
  );
  const outputs = React.useMemo(() => outputsPair(conflict), [conflict]);
  return (
    <section
      className="jp-mlops-merge-conflict"
      data-conflict-id={conflict.id}
      data-kind={conflict.kind}
      data-cell-id={conflict.cell_id ?? undefined}
      data-take={choice?.take}
    >
      <header className="jp-mlops-merge-conflictHeader">
        <span className="jp-mlops-merge-number">#{props.number}</span>
        <span className="jp-mlops-merge-kind" data-kind={conflict.kind}>
          {kindLabel(conflict.kind, trans)}
        </span>
        <span className="jp-mlops-review-position">
          {trans.__('cell %1', conflict.cell_index + 1)}
          {conflict.cell_id !== null && ` · ${conflict.cell_id}`}
        </span>
        {conflict.note && (
          <span className="jp-mlops-merge-note">{conflict.note}</span>
        )}
      </header>
      <div className="jp-mlops-merge-sides">
        <SideView
          side="local"
          label={trans.__('Local (ours) against the base')}
          cell={local}
          present={conflict.local !== null}
          trans={trans}
        />
        <SideView
          side="remote"
          label={trans.__('Remote (theirs) against the base')}
          cell={remote}
          present={conflict.remote !== null}
          trans={trans}
        />
      </div>
      {outputs && (
        <div className="jp-mlops-merge-outputs">
          <div className="jp-mlops-merge-outputsHeading">
            <span>{trans.__('Local outputs')}</span>
            <span>{trans.__('Remote outputs')}</span>
          </div>
          <OutputsDiff
            cell={outputs}
            rendermime={rendermime}
            onComment={null}
            trans={trans}
          />
        </div>
      )}
      <Choices
        conflict={conflict}
        choice={choice}
        onChoose={props.onChoose}
        trans={trans}
      />
    </section>
  );
}

/** One side's change to the base (its lines as removed when that side deleted the cell). */
function SideView(props: {
  side: 'local' | 'remote';
  label: string;
  cell: ICellDiff;
  present: boolean;
  trans: TranslationBundle;
}): JSX.Element {
  const { cell, trans } = props;
  return (
    <div className="jp-mlops-merge-side" data-side={props.side}>
      <div className="jp-mlops-merge-sideLabel">
        <span>{props.label}</span>
        <span className="jp-mlops-review-status" data-status={cell.status}>
          {props.present
            ? sideStatus(cell, trans)
            : trans.__('deleted on this side')}
        </span>
      </div>
      <SourceDiff
        cell={cell}
        mode="unified"
        threadLines={NO_LINES}
        baseThreadLines={NO_LINES}
        onComment={null}
        onCommentBase={null}
        trans={trans}
      />
    </div>
  );
}

/** Take local / take remote / take both / edit, and the editor of an edit. */
function Choices(props: {
  conflict: IConflict;
  choice: IChoice | null;
  onChoose: (choice: IChoice | null) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { conflict, choice, onChoose, trans } = props;
  const takes = takesFor(conflict.kind);
  const initial = (): string =>
    choice?.source ??
    conflict.local?.source ??
    conflict.remote?.source ??
    conflict.base?.source ??
    '';
  return (
    <div className="jp-mlops-merge-choices">
      <div
        className="jp-mlops-review-segmented jp-mlops-merge-takes"
        role="radiogroup"
        aria-label={trans.__('Resolve conflict by')}
      >
        {takes.map(take => (
          <button
            key={take}
            type="button"
            role="radio"
            aria-checked={choice?.take === take}
            className="jp-mlops-review-button jp-mlops-merge-take"
            data-take={take}
            title={takeTitle(take, conflict, trans)}
            onClick={() =>
              onChoose(
                choice?.take === take
                  ? null
                  : { take, source: take === 'edit' ? initial() : '' }
              )
            }
          >
            {takeLabel(take, trans)}
          </button>
        ))}
      </div>
      {choice?.take === 'edit' && (
        <textarea
          className="jp-mlops-merge-editor"
          aria-label={trans.__('The cell source to keep')}
          spellCheck={false}
          rows={Math.min(20, Math.max(4, choice.source.split('\n').length + 1))}
          value={choice.source}
          onChange={event =>
            onChoose({ take: 'edit', source: event.target.value })
          }
        />
      )}
    </div>
  );
}

function sourceText(side: IConflictSide): string {
  return side.source;
}

function metadataText(side: IConflictSide): string {
  return JSON.stringify(side.metadata ?? {}, null, 2);
}

/** Local's outputs against remote's, when the outputs are what conflicts or differ. */
function outputsPair(conflict: IConflict): ICellDiff | null {
  const local = (conflict.local?.outputs ?? []) as INotebookOutput[];
  const remote = (conflict.remote?.outputs ?? []) as INotebookOutput[];
  if (local.length === 0 && remote.length === 0) {
    return null;
  }
  const changed = JSON.stringify(local) !== JSON.stringify(remote);
  if (!changed && conflict.kind !== 'outputs') {
    return null;
  }
  return {
    ...sideDiff(conflict.local, conflict.remote, sourceText),
    status: 'modified',
    base_outputs: local,
    head_outputs: remote,
    outputs_changed: true
  };
}

export function kindLabel(
  kind: ConflictKind,
  trans: TranslationBundle
): string {
  switch (kind) {
    case 'source':
      return trans.__('both changed the source');
    case 'outputs':
      return trans.__('both changed the outputs');
    case 'metadata':
      return trans.__('both changed the metadata');
    case 'deleted-vs-modified':
      return trans.__('deleted on one side, changed on the other');
    case 'both-added':
      return trans.__('both added a cell here');
  }
}

function sideStatus(cell: ICellDiff, trans: TranslationBundle): string {
  switch (cell.status) {
    case 'added':
      return trans.__('added');
    case 'unchanged':
      return trans.__('unchanged');
    default:
      return trans.__('changed');
  }
}

function takeLabel(take: Take, trans: TranslationBundle): string {
  switch (take) {
    case 'local':
      return trans.__('Take local');
    case 'remote':
      return trans.__('Take remote');
    case 'both':
      return trans.__('Take both');
    case 'edit':
      return trans.__('Edit');
  }
}

function takeTitle(
  take: Take,
  conflict: IConflict,
  trans: TranslationBundle
): string {
  switch (take) {
    case 'local':
      return conflict.local
        ? trans.__('Keep the local (ours) cell')
        : trans.__('Delete the cell, as local (ours) did');
    case 'remote':
      return conflict.remote
        ? trans.__('Keep the remote (theirs) cell')
        : trans.__('Delete the cell, as remote (theirs) did');
    case 'both':
      return trans.__('Keep both cells: local, then remote');
    case 'edit':
      return trans.__('Write the cell source by hand');
  }
}
