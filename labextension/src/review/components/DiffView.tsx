import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ReviewDiffModel } from '../model';
import { ICellDiff, IDiffSummary, IThread } from '../tokens';
import { anchorLabel, CellView, ICellActions, statusLabel } from './CellView';
import { ChangeRuler, jumpToChange } from './ChangeRuler';
import { DiffControls } from './DiffControls';
import { LazyBlock, LazyContext, LazyObserver } from './Lazy';
import { diffLines, DiffMode } from './SourceDiff';
import { ThreadView } from './Threads';
import { VerdictBar } from './VerdictBar';

export { jumpToChange, scrollToRow } from './ChangeRuler';

/** The first cells render at once; the rest as they scroll near the view. */
const EAGER_CELLS = 30;

/** The threads of a cell without any (one array, so unchanged cells skip rendering). */
const NO_THREADS: IThread[] = [];

export interface IDiffViewProps {
  model: ReviewDiffModel;
  rendermime: IRenderMimeRegistry;
  /** The scrolling element (lazy cells watch it). */
  scrollRoot: HTMLElement;
  trans: TranslationBundle;
}

/** The whole diff view of one notebook: toolbar, summary, verdict bar, cells. */
export function DiffView(props: IDiffViewProps): JSX.Element {
  const { model, rendermime, trans } = props;
  const [mode, setMode] = React.useState<DiffMode>('side-by-side');
  const [hideUnchanged, setHideUnchanged] = React.useState(true);
  const [expanded, setExpanded] = React.useState<ReadonlySet<number>>(
    new Set()
  );
  const observer = React.useMemo(
    () => new LazyObserver(props.scrollRoot),
    [props.scrollRoot]
  );
  React.useEffect(() => () => observer.dispose(), [observer]);

  const diff = model.diff;
  const review = model.review;
  const placed = React.useMemo(
    () => placeThreads(diff?.cells ?? [], review?.threads ?? []),
    [diff, review]
  );
  const items = React.useMemo(
    () => groupCells(diff?.cells ?? [], placed.byCell, hideUnchanged, expanded),
    [diff, placed, hideUnchanged, expanded]
  );
  const actions: ICellActions = React.useMemo(
    () => ({
      comment: (anchor, text, suggestion) =>
        model.comment(anchor, text, suggestion),
      reply: (id, text) => model.reply(id, text),
      resolve: (id, resolved) => model.resolve(id, resolved),
      apply: (id, comment) => model.applySuggestion(id, comment.id)
    }),
    [model]
  );

  return (
    <div
      className="jp-mlops-review-view"
      data-mode={mode}
      tabIndex={-1}
      onKeyDown={event => {
        // n / p: the next or previous changed cell (not while typing)
        const target = event.target as HTMLElement;
        if (
          event.ctrlKey ||
          event.metaKey ||
          event.altKey ||
          ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName)
        ) {
          return;
        }
        if (event.key === 'n' || event.key === 'p') {
          event.preventDefault();
          jumpToChange(props.scrollRoot, event.key === 'n' ? 1 : -1);
        }
      }}
    >
      {diff && diff.cells.length > 0 && (
        <ChangeRuler root={props.scrollRoot} rowsKey={items} trans={trans} />
      )}
      <div className="jp-mlops-review-top">
        <DiffControls
          base={model.base}
          head={model.head}
          onRevisions={(base, head) => void model.setRevisions(base, head)}
          mode={mode}
          onMode={setMode}
          hideUnchanged={hideUnchanged}
          onHideUnchanged={setHideUnchanged}
          filters={model.filters}
          onFilters={filters => void model.setFilters(filters)}
          onRefresh={() => void model.load()}
          loading={model.isLoading}
          trans={trans}
        />
        {diff && (
          <Summary
            onJump={direction => jumpToChange(props.scrollRoot, direction)}
            summary={diff.summary}
            base={diff.base.label}
            head={diff.head.label}
            elapsedMs={diff.elapsed_ms}
            trans={trans}
          />
        )}
        <VerdictBar
          review={review}
          onVerdict={(verdict, text) => model.verdict(verdict, text)}
          onSinceMyReview={commit =>
            void model.setRevisions(commit, model.head)
          }
          trans={trans}
        />
        {model.reviewError && (
          <div className="jp-mlops-review-error" role="alert">
            {model.reviewError}
          </div>
        )}
      </div>
      {model.diffError && (
        <div className="jp-mlops-review-error" role="alert">
          {model.diffError}
        </div>
      )}
      {!diff && !model.diffError && (
        <div className="jp-mlops-review-loading">
          {trans.__('Computing the diff…')}
        </div>
      )}
      {placed.orphans.length > 0 && (
        <div className="jp-mlops-review-orphans">
          <h3>{trans.__('Threads on cells no longer in this notebook')}</h3>
          {placed.orphans.map(thread => (
            <ThreadView
              key={thread.id}
              thread={thread}
              anchor={anchorLabel(thread, trans)}
              onReply={text => actions.reply(thread.id, text)}
              onResolve={resolved => actions.resolve(thread.id, resolved)}
              onApply={comment => actions.apply(thread.id, comment)}
              trans={trans}
            />
          ))}
        </div>
      )}
      {diff && (
        <LazyContext.Provider value={observer}>
          <div className="jp-mlops-review-cells">
            {diff.cells.length === 0 && (
              <div className="jp-mlops-review-none">
                {trans.__('Both revisions have no cells.')}
              </div>
            )}
            {items.map(item =>
              item.kind === 'collapsed' ? (
                <button
                  key={`c${item.start}`}
                  type="button"
                  className="jp-mlops-review-collapsed"
                  onClick={() =>
                    setExpanded(new Set([...expanded, item.start]))
                  }
                >
                  {trans._n(
                    '%1 unchanged cell',
                    '%1 unchanged cells',
                    item.count
                  )}
                </button>
              ) : (
                <div
                  key={cellKey(diff.cells[item.index], item.index)}
                  className="jp-mlops-review-row"
                  data-changed={
                    diff.cells[item.index].status !== 'unchanged' ||
                    diff.cells[item.index].outputs_changed
                      ? 'true'
                      : undefined
                  }
                  data-status={changeKind(diff.cells[item.index])}
                  data-label={changeLabel(diff.cells[item.index], trans)}
                >
                  <LazyBlock
                    eager={item.position < EAGER_CELLS}
                    estimatedHeight={estimateHeight(diff.cells[item.index])}
                  >
                    {() => (
                      <CellView
                        cell={diff.cells[item.index]}
                        mode={mode}
                        threads={placed.byCell.get(item.index) ?? NO_THREADS}
                        actions={actions}
                        rendermime={rendermime}
                        trans={trans}
                      />
                    )}
                  </LazyBlock>
                </div>
              )
            )}
          </div>
        </LazyContext.Provider>
      )}
    </div>
  );
}

function Summary(props: {
  onJump: (direction: 1 | -1) => void;
  summary: IDiffSummary;
  base: string;
  head: string;
  elapsedMs: number;
  trans: TranslationBundle;
}): JSX.Element {
  const { summary, trans } = props;
  const items: [keyof IDiffSummary, string][] = [
    ['added', trans.__('added')],
    ['removed', trans.__('removed')],
    ['modified', trans.__('modified')],
    ['moved', trans.__('moved')],
    ['outputs_changed', trans.__('outputs changed')],
    ['unchanged', trans.__('unchanged')]
  ];
  return (
    <div className="jp-mlops-review-summary">
      <span className="jp-mlops-review-labels">
        {trans.__('%1 → %2', props.base, props.head)}
      </span>
      {items.map(([key, label]) => (
        <span
          key={key}
          className="jp-mlops-review-count"
          data-summary={key}
          data-zero={summary[key] === 0 ? 'true' : undefined}
        >
          <strong>{summary[key]}</strong> {label}
        </span>
      ))}
      <span className="jp-mlops-review-jump">
        <button
          type="button"
          className="jp-mlops-review-button"
          data-jump="previous"
          title={trans.__('The previous changed cell (p)')}
          onClick={() => props.onJump(-1)}
        >
          {trans.__('↑ Previous change')}
        </button>
        <button
          type="button"
          className="jp-mlops-review-button"
          data-jump="next"
          title={trans.__('The next changed cell (n)')}
          onClick={() => props.onJump(1)}
        >
          {trans.__('↓ Next change')}
        </button>
      </span>
      <span className="jp-mlops-review-elapsed">
        {trans.__('in %1 ms', Math.round(props.elapsedMs))}
      </span>
    </div>
  );
}

type Item =
  | { kind: 'cell'; index: number; position: number }
  | { kind: 'collapsed'; start: number; count: number };

/**
 * The rows of the view: cells, and runs of unchanged cells (without threads) folded
 * into one "N unchanged cells" row unless that run was expanded.
 */
export function groupCells(
  cells: ICellDiff[],
  threads: ReadonlyMap<number, IThread[]>,
  hideUnchanged: boolean,
  expanded: ReadonlySet<number>
): Item[] {
  const items: Item[] = [];
  let run: number[] = [];
  const flush = (): void => {
    if (run.length === 0) {
      return;
    }
    if (expanded.has(run[0])) {
      for (const index of run) {
        items.push({ kind: 'cell', index, position: items.length });
      }
    } else {
      items.push({ kind: 'collapsed', start: run[0], count: run.length });
    }
    run = [];
  };
  cells.forEach((cell, index) => {
    const foldable =
      hideUnchanged &&
      cell.status === 'unchanged' &&
      !(threads.get(index)?.length ?? 0);
    if (foldable) {
      run.push(index);
    } else {
      flush();
      items.push({ kind: 'cell', index, position: items.length });
    }
  });
  flush();
  return items;
}

/**
 * Each thread under the cell it is anchored to: by cell id (the cell as it is in the
 * head), else by where the server says that cell is now; the rest stand apart.
 */
export function placeThreads(
  cells: ICellDiff[],
  threads: IThread[]
): { byCell: Map<number, IThread[]>; orphans: IThread[] } {
  const byId = new Map<string, number>();
  const byHead = new Map<number, number>();
  cells.forEach((cell, index) => {
    if (cell.cell_id !== null && cell.status !== 'removed') {
      byId.set(cell.cell_id, index);
    }
    if (cell.head_index !== null) {
      byHead.set(cell.head_index, index);
    }
  });
  cells.forEach((cell, index) => {
    // a removed cell still takes the threads written on it
    if (cell.cell_id !== null && !byId.has(cell.cell_id)) {
      byId.set(cell.cell_id, index);
    }
  });
  const byCell = new Map<number, IThread[]>();
  const orphans: IThread[] = [];
  for (const thread of threads) {
    let index = thread.cell_id !== null ? byId.get(thread.cell_id) : undefined;
    if (index === undefined && thread.head_index !== null) {
      index = byHead.get(thread.head_index);
    }
    if (index === undefined) {
      orphans.push(thread);
      continue;
    }
    const list = byCell.get(index) ?? [];
    list.push(thread);
    byCell.set(index, list);
  }
  return { byCell, orphans };
}

/** A key that follows a cell when the diff is fetched again and cells come or go. */
function cellKey(cell: ICellDiff, index: number): string {
  if (cell.cell_id === null) {
    return `#${index}`;
  }
  return cell.head_index === null ? `${cell.cell_id}/removed` : cell.cell_id;
}

/** Estimated heights, once per cell (a long diff renders its rows often). */
const estimates = new WeakMap<ICellDiff, number>();

/** About how tall a cell not rendered yet is: its lines, its outputs (images tall). */
function estimateHeight(cell: ICellDiff): number {
  let height = estimates.get(cell);
  if (height === undefined) {
    const lines = diffLines(cell).length;
    height = 40 + 18 * lines + outputsHeight(cell);
    estimates.set(cell, height);
  }
  return height;
}

function outputsHeight(cell: ICellDiff): number {
  const side = (outputs: ICellDiff['head_outputs'] | undefined): number =>
    (outputs ?? []).reduce((sum, output) => {
      const data = (output as { data?: Record<string, unknown> }).data;
      if (data && Object.keys(data).some(mime => mime.startsWith('image/'))) {
        return sum + 240;
      }
      const text = (output as { text?: unknown }).text;
      const lines =
        typeof text === 'string' ? Math.min(text.split('\n').length, 40) : 2;
      return sum + 8 + 17 * lines;
    }, 0);
  return Math.max(side(cell.base_outputs), side(cell.head_outputs));
}

/** What the ruler marks a changed cell as (outputs: only its outputs changed). */
function changeKind(cell: ICellDiff): string | undefined {
  if (cell.status === 'unchanged') {
    return cell.outputs_changed ? 'outputs' : undefined;
  }
  if (
    cell.status === 'modified' &&
    cell.base_source === cell.head_source &&
    !cell.metadata_changed
  ) {
    return 'outputs';
  }
  return cell.status;
}

function changeLabel(cell: ICellDiff, trans: TranslationBundle): string {
  const index = cell.head_index ?? cell.base_index ?? 0;
  const what =
    changeKind(cell) === 'outputs'
      ? trans.__('outputs changed')
      : statusLabel(cell.status, trans);
  return trans.__('cell %1: %2', index + 1, what);
}
