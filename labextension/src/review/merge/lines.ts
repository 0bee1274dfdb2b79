import { ICellDiff, ILineDiff, INotebookOutput } from '../tokens';
import { IConflictSide } from './tokens';

/** Beyond this many line pairs, a text is shown as all removed then all added. */
const MAX_PAIRS = 4_000_000;

/**
 * The line diff of two texts (longest common subsequence), in the shape of the server's
 * diff so that the diff view's components draw it: a run of removed lines next to a run
 * of added ones becomes replaced lines. Conflicted cells are small; the server sends no
 * line diff for them.
 */
export function diffText(before: string, after: string): ILineDiff[] {
  const a = splitLines(before);
  const b = splitLines(after);
  const ops = a.length * b.length > MAX_PAIRS ? naive(a, b) : lcs(a, b);
  return pairRuns(ops, a, b);
}

/**
 * One side of a conflict against the base, as a cell of the diff view (`text` picks
 * what is compared: the source, or the metadata as JSON).
 */
export function sideDiff(
  base: IConflictSide | null,
  side: IConflictSide | null,
  text: (side: IConflictSide) => string
): ICellDiff {
  const before = base ? text(base) : null;
  const after = side ? text(side) : null;
  const baseOutputs = (base?.outputs ?? []) as INotebookOutput[];
  const headOutputs = (side?.outputs ?? []) as INotebookOutput[];
  return {
    status:
      before === null
        ? 'added'
        : after === null
          ? 'removed'
          : before === after
            ? 'unchanged'
            : 'modified',
    cell_id: null,
    cell_type: side?.cell_type ?? base?.cell_type ?? 'code',
    base_index: null,
    head_index: null,
    base_source: before,
    head_source: after,
    // one side absent: the diff view draws its lines as all added or all removed
    lines: before !== null && after !== null ? diffText(before, after) : [],
    outputs_changed:
      JSON.stringify(baseOutputs) !== JSON.stringify(headOutputs),
    base_outputs: baseOutputs,
    head_outputs: headOutputs,
    metadata_changed:
      JSON.stringify(base?.metadata ?? {}) !==
      JSON.stringify(side?.metadata ?? {}),
    base_attachments: {},
    head_attachments: {}
  };
}

type Op = 'equal' | 'delete' | 'insert';

function splitLines(text: string): string[] {
  return text.length === 0 ? [] : text.replace(/\n$/, '').split('\n');
}

function naive(a: string[], b: string[]): Op[] {
  return [...a.map((): Op => 'delete'), ...b.map((): Op => 'insert')];
}

function lcs(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  // suffix lengths: table[i][j] = LCS of a[i:] and b[j:]
  const table: Uint32Array[] = [];
  for (let i = 0; i <= n; i++) {
    table.push(new Uint32Array(m + 1));
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      table[i][j] =
        a[i] === b[j]
          ? table[i + 1][j + 1] + 1
          : Math.max(table[i + 1][j], table[i][j + 1]);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push('equal');
      i++;
      j++;
    } else if (table[i + 1][j] >= table[i][j + 1]) {
      ops.push('delete');
      i++;
    } else {
      ops.push('insert');
      j++;
    }
  }
  for (; i < n; i++) {
    ops.push('delete');
  }
  for (; j < m; j++) {
    ops.push('insert');
  }
  return ops;
}

/** Number the lines; pair a run of deletions with the insertions that follow it. */
function pairRuns(ops: Op[], a: string[], b: string[]): ILineDiff[] {
  const lines: ILineDiff[] = [];
  let i = 0;
  let j = 0;
  let k = 0;
  while (k < ops.length) {
    if (ops[k] === 'equal') {
      lines.push(line('equal', i, j, a[i], b[j]));
      i++;
      j++;
      k++;
      continue;
    }
    const deleted: number[] = [];
    const inserted: number[] = [];
    while (k < ops.length && ops[k] !== 'equal') {
      if (ops[k] === 'delete') {
        deleted.push(i++);
      } else {
        inserted.push(j++);
      }
      k++;
    }
    const paired = Math.min(deleted.length, inserted.length);
    for (let p = 0; p < paired; p++) {
      const [x, y] = [deleted[p], inserted[p]];
      lines.push(line('replace', x, y, a[x], b[y]));
    }
    for (const x of deleted.slice(paired)) {
      lines.push(line('delete', x, null, a[x], null));
    }
    for (const y of inserted.slice(paired)) {
      lines.push(line('insert', null, y, null, b[y]));
    }
  }
  return lines;
}

function line(
  op: ILineDiff['op'],
  baseIndex: number | null,
  headIndex: number | null,
  baseText: string | null,
  headText: string | null
): ILineDiff {
  return {
    op,
    base_line: baseIndex === null ? null : baseIndex + 1,
    head_line: headIndex === null ? null : headIndex + 1,
    base_text: baseText,
    head_text: headText,
    inline: null
  };
}
