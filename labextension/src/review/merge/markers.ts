import { Notification } from '@jupyterlab/apputils';
import { Cell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';
import { PanelLayout, Widget } from '@lumino/widgets';

import { IConflictRecord } from './tokens';

/** The class of a cell that carries a merge conflict. */
export const CONFLICT_CLASS = 'jp-mlops-conflictCell';

/** Wait for edits to settle before looking at the cells again. */
const SCAN_DELAY_MS = 200;

/** The conflict recorded in a cell's metadata (`mlops.conflict`), if any. */
export function conflictOf(cell: Cell): IConflictRecord | null {
  const mlops = cell.model.getMetadata('mlops') as
    { conflict?: unknown } | undefined;
  const conflict = mlops?.conflict;
  return typeof conflict === 'object' && conflict !== null
    ? (conflict as IConflictRecord)
    : null;
}

/**
 * Marks the cells of open notebooks that carry a merge conflict (`metadata.mlops.conflict`,
 * written by the notebook merge): a class and a banner that opens the Merge view; a
 * notebook that has conflicts when it opens (or after a reload) also says so once.
 */
export class ConflictMarkers implements IDisposable {
  constructor(
    private readonly _notebooks: INotebookTracker,
    private readonly _openMerge: (path: string) => void,
    private readonly _trans: TranslationBundle
  ) {
    _notebooks.widgetAdded.connect(this._onNotebook, this);
    _notebooks.forEach(panel => this._watch(panel));
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._notebooks.widgetAdded.disconnect(this._onNotebook, this);
    Signal.clearData(this);
  }

  /** Look at a notebook's cells now (also after each change, a moment later). */
  scan(panel: NotebookPanel): void {
    if (panel.isDisposed || !panel.content.model) {
      return;
    }
    // a conflict may span cells (both added one: two cells, one id)
    const ids = new Set<string>();
    let unnamed = 0;
    for (const cell of panel.content.widgets) {
      const conflict = conflictOf(cell);
      if (conflict && typeof conflict.id === 'string') {
        ids.add(conflict.id);
      } else if (conflict) {
        unnamed++;
      }
      this._mark(cell, conflict, panel);
    }
    const count = ids.size + unnamed;
    panel.node.dataset.mlopsConflicts = String(count);
    const before = this._counts.get(panel) ?? 0;
    this._counts.set(panel, count);
    if (count > 0 && before === 0) {
      this._tell(panel, count);
    }
  }

  private _onNotebook(_: INotebookTracker, panel: NotebookPanel): void {
    this._watch(panel);
  }

  private _watch(panel: NotebookPanel): void {
    let timer = 0;
    const later = (): void => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => this.scan(panel), SCAN_DELAY_MS);
    };
    const connect = (): void => {
      const model = panel.content.model;
      model?.contentChanged.connect(later, this);
      model?.cells.changed.connect(later, this);
    };
    void panel.context.ready.then(() => {
      if (this._isDisposed || panel.isDisposed) {
        return;
      }
      connect();
      panel.content.modelChanged.connect(() => {
        connect();
        later();
      }, this);
      this.scan(panel);
    });
    panel.disposed.connect(() => window.clearTimeout(timer));
  }

  /** Add or remove a cell's class and banner to match its metadata. */
  private _mark(
    cell: Cell,
    conflict: IConflictRecord | null,
    panel: NotebookPanel
  ): void {
    const banner = this._banners.get(cell);
    const kind = conflict ? String(conflict.kind ?? 'source') : null;
    if (!kind) {
      cell.removeClass(CONFLICT_CLASS);
      delete cell.node.dataset.mlopsConflict;
      if (banner) {
        banner.dispose();
        this._banners.delete(cell);
      }
      return;
    }
    cell.addClass(CONFLICT_CLASS);
    cell.node.dataset.mlopsConflict = kind;
    if (banner && !banner.isDisposed && banner.node.dataset.kind === kind) {
      return;
    }
    banner?.dispose();
    const layout = cell.layout;
    if (!(layout instanceof PanelLayout)) {
      return; // the class alone marks it
    }
    const created = this._banner(kind, () =>
      this._openMerge(panel.context.path)
    );
    layout.insertWidget(0, created);
    this._banners.set(cell, created);
  }

  private _banner(kind: string, open: () => void): Widget {
    const trans = this._trans;
    const node = document.createElement('div');
    node.className = 'jp-mlops-conflictBanner';
    node.dataset.kind = kind;
    node.setAttribute('role', 'note');
    const text = document.createElement('span');
    text.textContent = trans.__('merge conflict (%1) — resolve in the ', kind);
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'jp-mlops-conflictOpen';
    button.textContent = trans.__('Merge view');
    button.title = trans.__('Resolve the conflicts of this notebook');
    button.addEventListener('click', event => {
      event.stopPropagation();
      open();
    });
    node.append(text, button);
    return new Widget({ node });
  }

  private _tell(panel: NotebookPanel, count: number): void {
    const trans = this._trans;
    const path = panel.context.path;
    Notification.warning(
      trans._n(
        '%2 has %1 merge conflict, recorded in its cells.',
        '%2 has %1 merge conflicts, recorded in its cells.',
        count,
        path
      ),
      {
        autoClose: 8000,
        actions: [
          {
            label: trans.__('Open the Merge view'),
            caption: trans.__('Resolve the conflicts cell by cell'),
            callback: () => this._openMerge(path)
          }
        ]
      }
    );
  }

  private readonly _banners = new WeakMap<Cell, Widget>();
  private readonly _counts = new WeakMap<NotebookPanel, number>();
  private _isDisposed = false;
}
