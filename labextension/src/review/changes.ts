import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { Latest } from '../panels/poll';
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
    return this._fetch.isLoading;
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
    const pending = this._fetch.run(() => fetchChanges(this._folder));
    this._changed.emit(); // loading
    const outcome = await pending;
    if (!outcome || this._isDisposed) {
      return; // a newer refresh is on its way
    }
    if (outcome.ok) {
      this._reply = outcome.value;
      this._error = null;
    } else {
      const error = outcome.error;
      this._error = error instanceof Error ? error.message : String(error);
    }
    this._changed.emit();
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
  private readonly _fetch = new Latest();
  private _isDisposed = false;
  private readonly _changed = new Signal<this, void>(this);
}
