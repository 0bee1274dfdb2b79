import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { requestAPI, RequestError } from '../handler';
import { PanelPoll } from '../panels/poll';
import {
  CapabilityId,
  ICapabilityStatus,
  IStatusReply,
  Problem,
  SectionState
} from '../tokens';
import { findProblems } from './problems';

/**
 * The live status of the server's project: fetches `GET /mlops/api/status`, and
 * polls it every `refreshInterval` seconds while `active` (the sidebar is visible
 * and the browser tab too), backing off while the server does not answer.
 */
export class StatusModel implements IDisposable {
  constructor(options: StatusModel.IOptions) {
    this._frontendVersion = options.frontendVersion;
    const fetch =
      options.fetchStatus ??
      ((folder: string) =>
        requestAPI<IStatusReply>(
          folder ? `status?path=${encodeURIComponent(folder)}` : 'status'
        ));
    this._poll = new PanelPoll<IStatusReply>({
      name: 'jupyter-mlops:status',
      interval: 30,
      fetch: () => fetch(this._folder),
      onResult: reply => {
        this._reply = reply;
        this._failure = null;
        this._lastUpdated = new Date();
        this._emit();
      },
      onError: error => {
        this._failure =
          error instanceof RequestError
            ? error
            : new RequestError(
                0,
                error instanceof Error ? error.message : String(error)
              );
        this._emit();
      },
      onLoading: () => this._emit()
    });
  }

  /**
   * The folder (relative to the server root) whose project the status describes:
   * the folder of the document in use, so that the panel and that document's
   * kernel resolve the same `mlops.toml`. Changing it fetches again when active.
   */
  get folder(): string {
    return this._folder;
  }
  set folder(value: string) {
    if (value === this._folder) {
      return;
    }
    this._folder = value;
    // what was fetched describes another project
    this._poll.invalidate();
  }

  /** Emitted whenever anything shown from this model changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /**
   * Emitted when someone asks for a refresh (the sidebar's refresh button): the
   * panels fetch their listings again too.
   */
  get refreshRequested(): ISignal<this, void> {
    return this._refreshRequested;
  }

  /** The last successful answer, kept (as stale) when a later request fails. */
  get reply(): IStatusReply | null {
    return this._reply;
  }

  /** Why the last request failed; null when it succeeded. */
  get failure(): RequestError | null {
    return this._failure;
  }

  /** Whether a request is in flight. */
  get isLoading(): boolean {
    return this._poll.isLoading;
  }

  /** When the last successful answer arrived. */
  get lastUpdated(): Date | null {
    return this._lastUpdated;
  }

  get frontendVersion(): string {
    return this._frontendVersion;
  }

  /** The problems to state in plain words above the sections. */
  get problems(): Problem[] {
    return findProblems(this._reply, this._failure, this._frontendVersion);
  }

  /**
   * Seconds between automatic refreshes while active; 0 turns polling off. The
   * other panels follow it too (`changed` is emitted when it changes).
   */
  get refreshInterval(): number {
    return this._poll.interval;
  }
  set refreshInterval(seconds: number) {
    const before = this._poll.interval;
    this._poll.interval = seconds;
    if (this._poll.interval !== before) {
      this._emit();
    }
  }

  /**
   * Whether the status is being watched. Becoming active fetches at once when
   * nothing was fetched yet or the last answer is older than the interval.
   */
  get active(): boolean {
    return this._poll.active;
  }
  set active(value: boolean) {
    this._poll.active = value;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** The status of one capability from the last answer. */
  capability(id: CapabilityId): ICapabilityStatus | null {
    return this._reply?.capabilities.find(c => c.id === id) ?? null;
  }

  /** The state a section shows: the server's, 'loading' before any answer, else 'error'. */
  sectionState(id: CapabilityId): SectionState {
    const capability = this.capability(id);
    if (capability) {
      return capability.state;
    }
    return this._reply === null && this._failure === null ? 'loading' : 'error';
  }

  /**
   * Fetch the status now. A call while a request is in flight fetches once more
   * (the answer may predate what the caller changed); the promise settles once the
   * newest answer is in.
   */
  refresh(): Promise<void> {
    const done = this._poll.refresh();
    if (!this._isDisposed) {
      this._refreshRequested.emit();
    }
    return done;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    Signal.clearData(this);
  }

  private _emit(): void {
    if (!this._isDisposed) {
      this._changed.emit();
    }
  }

  private readonly _frontendVersion: string;
  private readonly _poll: PanelPoll<IStatusReply>;
  private _folder = '';
  private readonly _changed = new Signal<this, void>(this);
  private readonly _refreshRequested = new Signal<this, void>(this);
  private _reply: IStatusReply | null = null;
  private _failure: RequestError | null = null;
  private _lastUpdated: Date | null = null;
  private _isDisposed = false;
}

export namespace StatusModel {
  export interface IOptions {
    /** The version the server extension must report. */
    frontendVersion: string;
    /**
     * Where the status of a folder comes from; `GET /mlops/api/status?path=FOLDER`
     * by default.
     */
    fetchStatus?: (folder: string) => Promise<IStatusReply>;
  }
}
