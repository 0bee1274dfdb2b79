import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ICellDiff, IInlineChange, ILineDiff, Span } from '../tokens';

/** Side by side (base left, head right) or unified (one column, - then +). */
export type DiffMode = 'side-by-side' | 'unified';

export interface ISourceDiffProps {
  cell: ICellDiff;
  mode: DiffMode;
  /** Head lines that carry a thread. */
  threadLines: ReadonlySet<number>;
  /** Base lines (deleted ones) that carry a thread. */
  baseThreadLines: ReadonlySet<number>;
  /** Comment on a head line (extend: add it to the range begun); null: no comments. */
  onComment: ((line: number, extend: boolean) => void) | null;
  /** Comment on a deleted line, numbered as in the base; null: no comments there. */
  onCommentBase: ((line: number, extend: boolean) => void) | null;
  trans: TranslationBundle;
}

/** A cell's source diff, line by line, with what changed inside replaced lines. */
export function SourceDiff(props: ISourceDiffProps): JSX.Element {
  const { cell, mode } = props;
  const lines = diffLines(cell);
  if (lines.length === 0) {
    return (
      <div className="jp-mlops-review-source jp-mlops-mod-empty">
        {props.trans.__('(empty source)')}
      </div>
    );
  }
  const rows: JSX.Element[] = [];
  lines.forEach((line, i) => {
    if (mode === 'side-by-side') {
      rows.push(<SideBySideRow key={i} line={line} {...props} />);
    } else {
      if (line.op === 'replace') {
        rows.push(
          <UnifiedRow key={`${i}-`} line={line} side="base" {...props} />,
          <UnifiedRow key={`${i}+`} line={line} side="head" {...props} />
        );
      } else {
        rows.push(
          <UnifiedRow
            key={i}
            line={line}
            side={line.op === 'delete' ? 'base' : 'head'}
            {...props}
          />
        );
      }
    }
  });
  return (
    <table className="jp-mlops-review-source" data-mode={mode}>
      <tbody>{rows}</tbody>
    </table>
  );
}

interface IRowProps extends ISourceDiffProps {
  line: ILineDiff;
}

function SideBySideRow(props: IRowProps): JSX.Element {
  const { line } = props;
  const hasBase = line.op !== 'insert';
  const hasHead = line.op !== 'delete';
  return (
    <tr className="jp-mlops-review-line" data-op={line.op}>
      <BaseGutter {...props} />
      <td
        className="jp-mlops-review-code"
        data-side="base"
        data-empty={hasBase ? undefined : 'true'}
      >
        {hasBase && <LineText line={line} side="base" />}
      </td>
      <HeadGutter {...props} />
      <td
        className="jp-mlops-review-code"
        data-side="head"
        data-empty={hasHead ? undefined : 'true'}
      >
        {hasHead && <LineText line={line} side="head" />}
      </td>
    </tr>
  );
}

function UnifiedRow(props: IRowProps & { side: 'base' | 'head' }): JSX.Element {
  const { line, side } = props;
  const op =
    line.op === 'replace' ? (side === 'base' ? 'delete' : 'insert') : line.op;
  const sign = op === 'delete' ? '-' : op === 'insert' ? '+' : ' ';
  return (
    <tr
      className="jp-mlops-review-line"
      data-op={op}
      data-replace={line.op === 'replace' ? 'true' : undefined}
    >
      {side === 'base' || op === 'equal' ? (
        <BaseGutter {...props} />
      ) : (
        <td className="jp-mlops-review-lineno" />
      )}
      {side === 'head' ? (
        <HeadGutter {...props} />
      ) : (
        <td className="jp-mlops-review-lineno" />
      )}
      <td className="jp-mlops-review-sign">{sign}</td>
      <td className="jp-mlops-review-code" data-side={side}>
        <LineText line={line} side={side} />
      </td>
    </tr>
  );
}

/**
 * The base line's number; on a line the head no longer has (deleted, or the old half of a
 * replaced one), a button that opens a comment on it, numbered as in the base.
 */
function BaseGutter(props: IRowProps): JSX.Element {
  const { line, onCommentBase, baseThreadLines, trans } = props;
  const number = line.op === 'insert' ? null : line.base_line;
  if (number === null) {
    return <td className="jp-mlops-review-lineno" />;
  }
  const gone = line.op === 'delete' || line.op === 'replace';
  return (
    <LineNumber
      number={number}
      side="base"
      hasThread={baseThreadLines.has(number)}
      onComment={gone ? onCommentBase : null}
      title={trans.__(
        'Comment on removed line %1 (shift-click another for a range)',
        number
      )}
    />
  );
}

/** The head line's number; a button that opens a comment on that line. */
function HeadGutter(props: IRowProps): JSX.Element {
  const { line, onComment, threadLines, trans } = props;
  const number = line.op === 'delete' ? null : line.head_line;
  if (number === null) {
    return <td className="jp-mlops-review-lineno" />;
  }
  return (
    <LineNumber
      number={number}
      side="head"
      hasThread={threadLines.has(number)}
      onComment={onComment}
      title={trans.__(
        'Comment on line %1 (shift-click another line for a range)',
        number
      )}
    />
  );
}

/** A line number cell: a button that starts a comment there when `onComment` is given. */
function LineNumber(props: {
  number: number;
  side: 'base' | 'head';
  hasThread: boolean;
  onComment: ((line: number, extend: boolean) => void) | null;
  title: string;
}): JSX.Element {
  const { number, side, hasThread, onComment } = props;
  const thread = hasThread ? 'true' : undefined;
  if (!onComment) {
    return (
      <td className="jp-mlops-review-lineno" data-thread={thread}>
        {number}
      </td>
    );
  }
  return (
    <td
      className="jp-mlops-review-lineno jp-mlops-mod-commentable"
      data-thread={thread}
    >
      <button
        type="button"
        className="jp-mlops-review-lineButton"
        data-line-side={side}
        data-line={number}
        title={props.title}
        onClick={event => onComment(number, event.shiftKey)}
      >
        {number}
      </button>
    </td>
  );
}

/** One side's text of a line, with the spans that changed marked. */
function LineText(props: {
  line: ILineDiff;
  side: 'base' | 'head';
}): JSX.Element {
  const { line, side } = props;
  const text = (side === 'base' ? line.base_text : line.head_text) ?? '';
  if (line.op !== 'replace' || !line.inline || line.inline.length === 0) {
    return <>{text.length > 0 ? text : '\u200b'}</>;
  }
  return <>{inlineSegments(text, line.inline, side)}</>;
}

/**
 * Split a line's text into plain and changed spans; spans count code points (as the
 * server's Python strings do), so characters beyond the BMP stay whole.
 */
export function inlineSegments(
  text: string,
  inline: IInlineChange[],
  side: 'base' | 'head'
): JSX.Element[] {
  const chars = Array.from(text);
  const marked = side === 'base' ? 'delete' : 'insert';
  const segments: JSX.Element[] = [];
  let at = 0;
  const plain = (end: number): void => {
    if (end > at) {
      segments.push(
        <span key={`p${at}`}>{chars.slice(at, end).join('')}</span>
      );
      at = end;
    }
  };
  for (const change of inline) {
    const span: Span | null = side === 'base' ? change.base : change.head;
    if (!span) {
      continue;
    }
    const [start, end] = [
      Math.max(span[0], at),
      Math.min(span[1], chars.length)
    ];
    if (end <= start) {
      continue;
    }
    plain(start);
    if (change.op === marked) {
      segments.push(
        <mark key={`m${start}`} className="jp-mlops-review-inline">
          {chars.slice(start, end).join('')}
        </mark>
      );
      at = end;
    }
  }
  plain(chars.length);
  return segments;
}

/**
 * The lines of a cell's diff; when the server sent none (an unchanged cell), the
 * source's lines as equal, or as inserted / deleted for a cell on one side only.
 */
export function diffLines(cell: ICellDiff): ILineDiff[] {
  if (cell.lines.length > 0) {
    return cell.lines;
  }
  const base = cell.base_source;
  const head = cell.head_source;
  const split = (source: string): string[] =>
    source.length === 0 ? [] : source.replace(/\n$/, '').split('\n');
  if (head !== null && base === null) {
    return split(head).map((text, i) => ({
      op: 'insert',
      base_line: null,
      head_line: i + 1,
      base_text: null,
      head_text: text,
      inline: null
    }));
  }
  if (base !== null && head === null) {
    return split(base).map((text, i) => ({
      op: 'delete',
      base_line: i + 1,
      head_line: null,
      base_text: text,
      head_text: null,
      inline: null
    }));
  }
  return split(head ?? '').map((text, i) => ({
    op: 'equal',
    base_line: i + 1,
    head_line: i + 1,
    base_text: text,
    head_text: text,
    inline: null
  }));
}
