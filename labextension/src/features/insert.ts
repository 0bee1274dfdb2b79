import { JupyterFrontEnd } from '@jupyterlab/application';
import {
  INotebookTracker,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';

/** Where a snippet went, or why it could not go anywhere. */
export type InsertResult =
  | { ok: true; notebook: NotebookPanel; cellIndex: number; reused: boolean }
  | { ok: false; reason: 'no-notebook' | 'not-ready' };

/**
 * Put `code` into the notebook in use (the tracker's current one, which stays
 * current while another main-area tab has the focus): into its active cell when
 * that cell is empty, else into a new code cell below it. The notebook is then
 * brought forward with that cell in edit mode and focused.
 */
export async function insertIntoNotebook(
  app: JupyterFrontEnd,
  notebooks: INotebookTracker | null,
  code: string
): Promise<InsertResult> {
  const panel = notebooks?.currentWidget ?? null;
  if (!panel || panel.isDisposed) {
    return { ok: false, reason: 'no-notebook' };
  }
  const notebook = panel.content;
  const model = notebook.model;
  if (!model) {
    return { ok: false, reason: 'not-ready' };
  }
  const active = notebook.activeCell;
  const reuse =
    active !== null && active.model.sharedModel.getSource().trim() === '';
  let index: number;
  if (reuse) {
    if (active.model.type !== 'code') {
      // an empty Markdown or raw cell becomes the code cell (that one only, not the
      // rest of a selection)
      notebook.deselectAll();
      NotebookActions.changeCellType(notebook, 'code');
    }
    index = notebook.activeCellIndex;
    notebook.activeCell?.model.sharedModel.setSource(code);
  } else {
    index = active ? notebook.activeCellIndex + 1 : model.cells.length;
    model.sharedModel.insertCell(index, {
      cell_type: 'code',
      source: code,
      // written by the user's own click, like a cell they typed
      metadata: { trusted: true }
    });
    notebook.activeCellIndex = index;
    notebook.deselectAll();
  }
  app.shell.activateById(panel.id);
  // activation is a posted message that focuses the notebook in command mode:
  // let it run, then enter the cell's editor
  await new Promise<void>(resolve => requestAnimationFrame(() => resolve()));
  const cell = notebook.activeCell;
  if (cell) {
    await cell.ready;
    notebook.mode = 'edit';
    cell.editor?.focus();
  }
  return { ok: true, notebook: panel, cellIndex: index, reused: reuse };
}
