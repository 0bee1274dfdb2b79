import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { StatusModel } from '../status/model';
import { fetchChanges } from './api';
import { IChangesReply } from './tokens';

/**
 * The changed notebooks and the reviews of the project the sidebar describes (the
 * folder of the document in use); fetched again when that folder changes, when the
 * sidebar's status is checked again (its refresh button, its polling while visible),
 * when a notebook is saved, and when asked to.
 */
export class ChangesModel implements IDisposable {
  constructor(
    private readonly _status: StatusModel,
    private readonly _notebooks: INotebookTracker | null
  ) {
    this._folder = _status.folder;
    this._checked = _status.lastUpdated;
    _status.changed.connect(this._onStatus, this);
    _notebooks?.widgetAdded.connect(this._onNotebook, this);
  }

  get folder(): string {
    return this._folder;
  }

  get reply(): IChangesReply | null {
    return this._reply;
  }

  get error(): string | null {
    return this._error;
  }

  get isLoading(): boolean {
    return this._loading;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._status.changed.disconnect(this._onStatus, this);
    this._notebooks?.widgetAdded.disconnect(this._onNotebook, this);
    // also the connections to each notebook's file
    Signal.clearData(this);
  }

  async refresh(): Promise<void> {
    const ticket = ++this._ticket;
    this._loading = true;
    this._changed.emit();
    try {
      const reply = await fetchChanges(this._folder);
      if (ticket === this._ticket) {
        this._reply = reply;
        this._error = null;
      }
    } catch (error) {
      if (ticket === this._ticket) {
        this._error = error instanceof Error ? error.message : String(error);
      }
    } finally {
      if (ticket === this._ticket && !this._isDisposed) {
        this._loading = false;
        this._changed.emit();
      }
    }
  }

  private _onStatus(): void {
    const checked = this._status.lastUpdated;
    if (this._status.folder !== this._folder || checked !== this._checked) {
      this._folder = this._status.folder;
      this._checked = checked;
      void this.refresh();
    }
  }

  private _onNotebook(_: INotebookTracker, panel: NotebookPanel): void {
    panel.context.fileChanged.connect(this._onSaved, this);
  }

  private _onSaved(): void {
    void this.refresh();
  }

  private _folder: string;
  private _checked: Date | null;
  private _reply: IChangesReply | null = null;
  private _error: string | null = null;
  private _loading = false;
  private _ticket = 0;
  private _isDisposed = false;
  private readonly _changed = new Signal<this, void>(this);
}
