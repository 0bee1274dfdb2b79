import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { StatusModel } from '../status/model';
import { fetchChanges } from './api';
import { IChangesReply } from './tokens';

/**
 * The changed notebooks and the reviews of the project the sidebar describes (the
 * folder of the document in use); fetched again when that folder changes or when
 * asked to.
 */
export class ChangesModel implements IDisposable {
  constructor(private readonly _status: StatusModel) {
    this._folder = _status.folder;
    _status.changed.connect(this._onStatus, this);
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
    if (this._status.folder !== this._folder) {
      this._folder = this._status.folder;
      void this.refresh();
    }
  }

  private _folder: string;
  private _reply: IChangesReply | null = null;
  private _error: string | null = null;
  private _loading = false;
  private _ticket = 0;
  private _isDisposed = false;
  private readonly _changed = new Signal<this, void>(this);
}
