import { AttachmentsModel, AttachmentsResolver } from '@jupyterlab/attachments';
import * as nbformat from '@jupyterlab/nbformat';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  CommentSide,
  ICellDiff,
  IComment,
  ICommentAnchor,
  IThread
} from '../tokens';
import { IMimeBundle, MimeView } from './MimeView';
import { OutputsDiff } from './OutputsDiff';
import { DiffMode, SourceDiff } from './SourceDiff';
import { CommentEditor, ThreadView } from './Threads';

/** What a cell's view does with the review (the diff view's model behind it). */
export interface ICellActions {
  comment: (
    anchor: ICommentAnchor,
    text: string,
    suggestion: string | null
  ) => Promise<boolean>;
  reply: (threadId: string, text: string) => Promise<boolean>;
  resolve: (threadId: string, resolved: boolean) => Promise<boolean>;
  apply: (threadId: string, comment: IComment) => Promise<boolean>;
}

export interface ICellViewProps {
  cell: ICellDiff;
  mode: DiffMode;
  threads: IThread[];
  actions: ICellActions;
  rendermime: IRenderMimeRegistry;
  trans: TranslationBundle;
}

/**
 * One cell of the diff: what happened to it, its source and outputs, its threads.
 * Rendered again only when one of its props changes (a long diff re-renders often).
 */
export const CellView = React.memo(CellViewImpl);

function CellViewImpl(props: ICellViewProps): JSX.Element {
  const { cell, mode, threads, actions, rendermime, trans } = props;
  // what a new comment goes on (the whole cell: {}); null: no editor open
  const [editing, setEditing] = React.useState<IDraftAnchor | null>(null);
  const [showSource, setShowSource] = React.useState(false);
  const removed = cell.status === 'removed';
  const commentable = cell.cell_id !== null && !removed;
  // a click on a line starts a comment there; a shift-click extends it to a range of the
  // same side (head lines, or deleted lines numbered as in the base)
  const lineComment =
    (side: CommentSide) =>
    (line: number, extend: boolean): void =>
      setEditing(
        extend &&
          editing?.line !== undefined &&
          (editing.side ?? 'head') === side
          ? {
              line: Math.min(editing.line, line),
              end_line: Math.max(editing.end_line ?? editing.line, line),
              side
            }
          : { line, side }
      );
  const onComment = commentable ? lineComment('head') : null;
  const onCommentBase = cell.cell_id !== null ? lineComment('base') : null;
  const onCommentOutput =
    cell.cell_id !== null
      ? (output: number) =>
          setEditing({ output, side: removed ? 'base' : 'head' })
      : null;
  const threadLines = React.useMemo(
    () => linesWithThreads(threads, 'head'),
    [threads]
  );
  const baseThreadLines = React.useMemo(
    () => linesWithThreads(threads, 'base'),
    [threads]
  );
  const markdown = cell.cell_type === 'markdown';

  return (
    <div
      className="jp-mlops-review-cell"
      data-status={cell.status}
      data-cell-type={cell.cell_type}
      data-cell-id={cell.cell_id ?? undefined}
      data-head-index={cell.head_index ?? undefined}
    >
      <div className="jp-mlops-review-cellHeader">
        <span className="jp-mlops-review-status" data-status={cell.status}>
          {statusLabel(cell.status, trans)}
        </span>
        <span className="jp-mlops-review-cellType">{cell.cell_type}</span>
        <span className="jp-mlops-review-position">
          {position(cell, trans)}
        </span>
        {cell.outputs_changed && (
          <span className="jp-mlops-review-badge" data-kind="outputs">
            {trans.__('outputs changed')}
          </span>
        )}
        {cell.metadata_changed && (
          <span className="jp-mlops-review-badge" data-kind="metadata">
            {trans.__('metadata changed')}
          </span>
        )}
        <span className="jp-mlops-review-spacer" />
        {markdown && (
          <button
            type="button"
            className="jp-mlops-review-button"
            aria-pressed={showSource}
            onClick={() => setShowSource(!showSource)}
          >
            {showSource ? trans.__('Rendered') : trans.__('Source diff')}
          </button>
        )}
        <button
          type="button"
          className="jp-mlops-review-button jp-mlops-review-commentCell"
          disabled={cell.cell_id === null}
          title={
            commentable
              ? trans.__('Comment on this cell (or click a line number)')
              : removed
                ? trans.__(
                    'Comment on this removed cell (or click a line number)'
                  )
                : trans.__('This cell has no id (nbformat before 4.5).')
          }
          onClick={() => setEditing(removed ? { side: 'base' } : {})}
        >
          {trans.__('Comment')}
        </button>
      </div>
      {markdown && !showSource ? (
        <RenderedMarkdown
          cell={cell}
          mode={mode}
          rendermime={rendermime}
          trans={trans}
        />
      ) : (
        <SourceDiff
          cell={cell}
          mode={mode}
          threadLines={threadLines}
          baseThreadLines={baseThreadLines}
          onComment={onComment}
          onCommentBase={onCommentBase}
          trans={trans}
        />
      )}
      <OutputsDiff
        cell={cell}
        rendermime={rendermime}
        onComment={onCommentOutput}
        trans={trans}
      />
      {(threads.length > 0 || editing !== null) && (
        <div className="jp-mlops-review-threads">
          {threads.map(thread => (
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
          {editing !== null && cell.cell_id !== null && (
            <CommentEditor
              anchor={draftLabel(editing, trans)}
              source={editing.side === 'base' ? null : cell.head_source}
              onSubmit={(text, suggestion) =>
                actions.comment(
                  { cell_id: cell.cell_id!, ...editing },
                  text,
                  suggestion
                )
              }
              onCancel={() => setEditing(null)}
              trans={trans}
            />
          )}
        </div>
      )}
    </div>
  );
}

/** A markdown cell as it reads: base and head side by side, or the newer alone. */
function RenderedMarkdown(props: {
  cell: ICellDiff;
  mode: DiffMode;
  rendermime: IRenderMimeRegistry;
  trans: TranslationBundle;
}): JSX.Element {
  const { cell, mode, trans } = props;
  const baseMime = useAttachments(props.rendermime, cell.base_attachments);
  const headMime = useAttachments(props.rendermime, cell.head_attachments);
  const base = React.useMemo(
    () => markdownBundle(cell.base_source),
    [cell.base_source]
  );
  const head = React.useMemo(
    () => markdownBundle(cell.head_source),
    [cell.head_source]
  );
  const sideBySide =
    mode === 'side-by-side' && cell.status !== 'unchanged' && base && head;
  if (sideBySide) {
    return (
      <div className="jp-mlops-review-markdown jp-mlops-review-outputPair">
        <div className="jp-mlops-review-outputSide" data-side="base">
          <MimeView rendermime={baseMime} bundle={base} fallback="" />
        </div>
        <div className="jp-mlops-review-outputSide" data-side="head">
          <MimeView rendermime={headMime} bundle={head} fallback="" />
        </div>
      </div>
    );
  }
  const shown = head ?? base;
  return (
    <div
      className="jp-mlops-review-markdown"
      data-side={head ? 'head' : 'base'}
    >
      {shown ? (
        <MimeView
          rendermime={head ? headMime : baseMime}
          bundle={shown}
          fallback=""
        />
      ) : (
        <span className="jp-mlops-review-none">{trans.__('(empty)')}</span>
      )}
    </div>
  );
}

/**
 * The rendermime a markdown cell's side renders with: with its attachments, JupyterLab's
 * own resolver, so `attachment:NAME` links show the cell's images as in the notebook.
 */
function useAttachments(
  rendermime: IRenderMimeRegistry,
  attachments: ICellDiff['base_attachments'] | undefined
): IRenderMimeRegistry {
  const model = React.useMemo(
    () =>
      attachments && Object.keys(attachments).length > 0
        ? new AttachmentsModel({
            values: attachments as unknown as nbformat.IAttachments
          })
        : null,
    [attachments]
  );
  React.useEffect(() => () => model?.dispose(), [model]);
  return React.useMemo(
    () =>
      model
        ? rendermime.clone({
            resolver: new AttachmentsResolver({
              parent: rendermime.resolver ?? undefined,
              model
            })
          })
        : rendermime,
    [rendermime, model]
  );
}

function markdownBundle(source: string | null): IMimeBundle | null {
  return source === null
    ? null
    : { data: { 'text/markdown': source }, metadata: {} };
}

/** Where a comment being written goes: lines of the head source, an output, or the cell. */
type IDraftAnchor = Omit<ICommentAnchor, 'cell_id'>;

function draftLabel(anchor: IDraftAnchor, trans: TranslationBundle): string {
  return where(
    anchor.line ?? null,
    anchor.end_line ?? null,
    anchor.output ?? null,
    anchor.side ?? 'head',
    trans
  );
}

function where(
  line: number | null,
  endLine: number | null,
  output: number | null,
  side: CommentSide,
  trans: TranslationBundle
): string {
  const base = side === 'base';
  if (line !== null) {
    if (endLine !== null && endLine !== line) {
      return base
        ? trans.__('removed lines %1–%2', line, endLine)
        : trans.__('lines %1–%2', line, endLine);
    }
    return base ? trans.__('removed line %1', line) : trans.__('line %1', line);
  }
  if (output !== null) {
    return base
      ? trans.__('removed output %1', output + 1)
      : trans.__('output %1', output + 1);
  }
  return base ? trans.__('the removed cell') : trans.__('the cell');
}

function linesWithThreads(threads: IThread[], side: CommentSide): Set<number> {
  const lines = new Set<number>();
  for (const thread of threads) {
    if (
      thread.line !== null &&
      !thread.outdated &&
      (thread.side ?? 'head') === side
    ) {
      const end = Math.max(thread.end_line ?? thread.line, thread.line);
      for (let line = thread.line; line <= end; line++) {
        lines.add(line);
      }
    }
  }
  return lines;
}

/** Where in its cell a thread is, in words. */
export function anchorLabel(thread: IThread, trans: TranslationBundle): string {
  return where(
    thread.line,
    thread.end_line,
    thread.output,
    thread.side ?? 'head',
    trans
  );
}

function position(cell: ICellDiff, trans: TranslationBundle): string {
  const base = cell.base_index;
  const head = cell.head_index;
  if (base !== null && head !== null) {
    return base === head
      ? trans.__('cell %1', head + 1)
      : trans.__('cell %1 → %2', base + 1, head + 1);
  }
  if (head !== null) {
    return trans.__('cell %1', head + 1);
  }
  return base !== null ? trans.__('was cell %1', base + 1) : '';
}

export function statusLabel(
  status: ICellDiff['status'],
  trans: TranslationBundle
): string {
  switch (status) {
    case 'added':
      return trans.__('added');
    case 'removed':
      return trans.__('removed');
    case 'modified':
      return trans.__('modified');
    case 'moved':
      return trans.__('moved');
    default:
      return trans.__('unchanged');
  }
}
