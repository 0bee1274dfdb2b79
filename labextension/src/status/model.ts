import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { requestAPI, RequestError } from '../handler';
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
 * polls it every `refreshInterval` seconds while `active` (the sidebar is visible).
 */
export class StatusModel implements IDisposable {
  constructor(options: StatusModel.IOptions) {
    this._frontendVersion = options.frontendVersion;
    this._fetch =
      options.fetchStatus ??
      ((folder: string) =>
        requestAPI<IStatusReply>(
          folder ? `status?path=${encodeURIComponent(folder)}` : 'status'
        ));
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
    if (this._active) {
      void this.refresh();
    } else {
      // what was fetched describes another project: fetch when next shown
      this._lastAttempt = null;
    }
  }

  /** Emitted whenever anything shown from this model changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
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
    return this._pending !== null;
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

  /** Seconds between automatic refreshes while active; 0 turns polling off. */
  get refreshInterval(): number {
    return this._interval;
  }
  set refreshInterval(seconds: number) {
    const value = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
    if (value !== this._interval) {
      this._interval = value;
      this._schedule();
    }
  }

  /**
   * Whether the status is being watched. Becoming active fetches at once when
   * nothing was fetched yet or the last answer is older than the interval.
   */
  get active(): boolean {
    return this._active;
  }
  set active(value: boolean) {
    if (value === this._active) {
      return;
    }
    this._active = value;
    if (value && this._isDue()) {
      void this.refresh();
    } else {
      this._schedule();
    }
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
   * after it (the answer may predate what the caller changed); the promise then
   * settles after that second request.
   */
  refresh(): Promise<void> {
    if (this._pending) {
      this._again = true;
      return this._pending;
    }
    this._clearTimer();
    this._pending = (async () => {
      do {
        this._again = false;
        await this._load();
      } while (this._again && !this._isDisposed);
    })().finally(() => {
      this._pending = null;
      this._emit();
      this._schedule();
    });
    this._emit();
    return this._pending;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._clearTimer();
    Signal.clearData(this);
  }

  private async _load(): Promise<void> {
    try {
      this._reply = await this._fetch(this._folder);
      this._failure = null;
      this._lastUpdated = new Date();
    } catch (error) {
      this._failure =
        error instanceof RequestError
          ? error
          : new RequestError(
              0,
              error instanceof Error ? error.message : String(error)
            );
    }
    this._lastAttempt = Date.now();
    this._emit();
  }

  private _isDue(): boolean {
    if (this._lastAttempt === null) {
      return true;
    }
    return (
      this._interval > 0 &&
      Date.now() - this._lastAttempt >= this._interval * 1000
    );
  }

  /** Plan the next automatic refresh, if one is wanted. */
  private _schedule(): void {
    this._clearTimer();
    if (
      this._isDisposed ||
      !this._active ||
      this._interval <= 0 ||
      this._pending
    ) {
      return;
    }
    const since =
      this._lastAttempt === null ? Infinity : Date.now() - this._lastAttempt;
    const tick = (): void => {
      if (document.visibilityState === 'hidden') {
        // the browser tab is in the background: look again one interval later
        this._timer = window.setTimeout(tick, this._interval * 1000);
        return;
      }
      this._timer = null;
      void this.refresh();
    };
    this._timer = window.setTimeout(
      tick,
      Math.max(0, this._interval * 1000 - since)
    );
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _emit(): void {
    if (!this._isDisposed) {
      this._changed.emit();
    }
  }

  private readonly _frontendVersion: string;
  private readonly _fetch: (folder: string) => Promise<IStatusReply>;
  private _folder = '';
  private readonly _changed = new Signal<this, void>(this);
  private _reply: IStatusReply | null = null;
  private _failure: RequestError | null = null;
  private _lastUpdated: Date | null = null;
  private _lastAttempt: number | null = null;
  private _pending: Promise<void> | null = null;
  private _again = false;
  private _interval = 30;
  private _active = false;
  private _timer: number | null = null;
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
