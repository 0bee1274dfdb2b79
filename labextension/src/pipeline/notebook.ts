import { Cell } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';

import { IStepMark } from './types';

/**
 * What the Pipeline panel reads from and writes to the open notebook: cells found by id
 * (falling back to their position), step marks in `mlops.step` cell metadata exactly as
 * `jupyter_mlops/pipeline/marks.py` reads them.
 */

/** Step names the server accepts (`marks.STEP_NAME`). */
export const STEP_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** The index of a cell in the notebook: by id when known, else the given position. */
export function cellIndex(
  panel: NotebookPanel,
  id: string | null | undefined,
  index: number | null | undefined
): number | null {
  const cells = panel.content.widgets;
  if (id) {
    const found = cells.findIndex(cell => cell.model.id === id);
    if (found >= 0) {
      return found;
    }
  }
  if (typeof index === 'number' && index >= 0 && index < cells.length) {
    return index;
  }
  return null;
}

/**
 * Selects these cells (the first becomes the active one), scrolls to the first and
 * shows the notebook.
 */
export function selectCells(panel: NotebookPanel, indices: number[]): void {
  const notebook = panel.content;
  const wanted = indices
    .filter(i => i >= 0 && i < notebook.widgets.length)
    .sort((a, b) => a - b);
  if (wanted.length === 0) {
    return;
  }
  notebook.mode = 'command';
  notebook.deselectAll();
  notebook.activeCellIndex = wanted[0];
  for (const index of wanted.slice(1)) {
    notebook.select(notebook.widgets[index]);
  }
  // (not scrollToCell: it selects that one cell only)
  void notebook.scrollToItem(wanted[0], 'start').catch(() => undefined);
}

/** How the active cell says it starts a step, if it does. */
export interface ICellMark {
  /** The mark in the cell's `mlops.step` metadata (a bare name is read as `{name}`). */
  metadata: IStepMark | null;
  /** The step named by a `%%mlops step` first line or a Kale `step:`/`block:` tag. */
  other: { name: string; how: 'magic' | 'tag' } | null;
}

export function readMark(cell: Cell): ICellMark {
  const model = cell.model;
  const mlops = model.getMetadata('mlops') as { step?: unknown } | undefined;
  let metadata: IStepMark | null = null;
  const step = mlops?.step;
  if (typeof step === 'string') {
    metadata = { name: step };
  } else if (step && typeof step === 'object' && 'name' in step) {
    metadata = step as IStepMark;
  }
  let other: ICellMark['other'] = null;
  const first = model.sharedModel
    .getSource()
    .split('\n')
    .find(line => line.trim().length > 0);
  const magic = first?.trim().match(/^%%mlops\s+step\s+(\S+)/);
  if (model.type === 'code' && magic) {
    other = { name: magic[1], how: 'magic' };
  } else {
    const tags = model.getMetadata('tags');
    if (Array.isArray(tags)) {
      for (const tag of tags) {
        const found =
          typeof tag === 'string' ? tag.match(/^(?:step|block):(.+)$/) : null;
        if (found) {
          other = { name: found[1], how: 'tag' };
        }
      }
    }
  }
  return { metadata, other };
}

/**
 * Writes the mark into the cell's `mlops.step` metadata, keeping what else is under
 * `mlops` (and the `cpu`/`memory` the form does not show); `null` clears it.
 */
export function writeMark(cell: Cell, mark: IStepMark | null): void {
  const model = cell.model;
  const current = (model.getMetadata('mlops') ?? {}) as Record<string, unknown>;
  const rest = { ...current };
  delete rest.step;
  if (mark === null) {
    if (Object.keys(rest).length === 0) {
      model.deleteMetadata('mlops');
    } else {
      model.setMetadata('mlops', rest);
    }
    return;
  }
  const step: IStepMark = { name: mark.name };
  if (mark.after && mark.after.length > 0) {
    step.after = mark.after;
  }
  if (mark.gpu) {
    step.gpu = mark.gpu;
  }
  if (mark.cpu) {
    step.cpu = mark.cpu;
  }
  if (mark.memory) {
    step.memory = mark.memory;
  }
  if (mark.retries) {
    step.retries = mark.retries;
  }
  if (mark.cache === false) {
    step.cache = false;
  }
  model.setMetadata('mlops', { ...rest, step: { ...step } });
}

/**
 * The notebook as the editor holds it, for `POST pipeline`: only what the server reads
 * (cells' type, source, metadata and id), so a large output does not travel each time.
 */
export function notebookContent(panel: NotebookPanel): Record<string, unknown> {
  const model = panel.context.model;
  const json = model.toJSON() as unknown as {
    cells: Record<string, unknown>[];
    [key: string]: unknown;
  };
  const cells = json.cells.map(cell => {
    const light: Record<string, unknown> = {
      cell_type: cell.cell_type,
      source: cell.source,
      metadata: cell.metadata
    };
    if (cell.id !== undefined) {
      light.id = cell.id;
    }
    if (cell.cell_type === 'code') {
      light.outputs = [];
      light.execution_count = null;
    }
    return light;
  });
  return { ...json, cells };
}
