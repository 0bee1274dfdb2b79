import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';

/** How a fetch ended: its answer, or why it failed. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Newest answer wins: of the fetches started through one `Latest`, only the newest
 * one's outcome is handed on, so a slower older answer (a search for "ag" arriving
 * after the one for "age", a listing of the previous notebook) never replaces a
 * newer one. Every panel that fetches on input goes through one of these.
 */
export class Latest {
  /**
   * Run `fetch`; resolves with its outcome, or with null when a newer fetch was
   * started (or `cancel()` called) before it ended.
   */
  async run<T>(fetch: () => Promise<T>): Promise<Outcome<T> | null> {
    const ticket = ++this._ticket;
    this._inFlight = true;
    let outcome: Outcome<T>;
    try {
      outcome = { ok: true, value: await fetch() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    if (ticket !== this._ticket) {
      return null;
    }
    this._inFlight = false;
    return outcome;
  }

  /** Whether the newest fetch is still in flight. */
  get isLoading(): boolean {
    return this._inFlight;
  }

  /** Drop the answer of the fetch in flight (what it asked no longer applies). */
  cancel(): void {
    this._ticket++;
    this._inFlight = false;
  }

  private _ticket = 0;
  private _inFlight = false;
}

/** Longest wait between two tries while the server keeps failing (backoff). */
const MAX_BACKOFF_MS = 5 * 60 * 1000;

/**
 * A panel's polling of one server listing, on `@lumino/polling`'s `Poll`: a fetch
 * every `interval` seconds (0: none) while `active` and the browser tab is visible,
 * every `fastInterval` seconds while `fast()` says something is in progress, growing
 * waits while the fetch keeps failing, and `refresh()` for the refresh button.
 *
 * Only the answer of the newest fetch is handed on (through `Latest`), so a slow
 * old answer never replaces a newer one.
 */
export class PanelPoll<T> implements IDisposable {
  constructor(options: PanelPoll.IOptions<T>) {
    this._options = options;
    this._interval = seconds(options.interval ?? 0);
    this._poll = new Poll<void, unknown, 'standby'>({
      name: options.name,
      auto: true,
      factory: () => this._fetch(),
      frequency: this._frequency(),
      // the panel hidden: no fetch; the tab hidden: no fetch after one more tick
      standby: () => (this._forced ? 'never' : !this._active || 'when-hidden')
    });
  }

  /** Whether the panel shows the listing. Becoming active fetches when one is due. */
  get active(): boolean {
    return this._active;
  }
  set active(value: boolean) {
    if (value !== this._active) {
      this._active = value;
      this._reschedule();
    }
  }

  /** Seconds between two automatic fetches while nothing is in progress; 0: none. */
  get interval(): number {
    return this._interval;
  }
  set interval(value: number) {
    const next = seconds(value);
    if (next !== this._interval) {
      this._interval = next;
      this._reschedule();
    }
  }

  /** Whether a fetch is in flight. */
  get isLoading(): boolean {
    return this._inFlight > 0;
  }

  /** Whether the last fetch has been attempted, when (ms since the epoch). */
  get lastAttempt(): number | null {
    return this._lastAttempt;
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  /**
   * Fetch now, active or not (the refresh button, a changed query). Resolves when
   * the newest fetch has been handed on, including one started after this call.
   */
  refresh(): Promise<void> {
    if (this.isDisposed) {
      return Promise.resolve();
    }
    const done = new Promise<void>(resolve => this._waiters.push(resolve));
    this._forced = true;
    void this._poll.refresh();
    return done;
  }

  /**
   * What was fetched no longer answers the query (another folder, notebook, page):
   * fetch now when active, else as soon as the panel is shown again.
   */
  invalidate(): void {
    if (this._active) {
      void this.refresh();
    } else {
      this._lastAttempt = null;
    }
  }

  /**
   * Look again at `fast()` and the interval (something started or ended): the
   * next fetch comes as the new pace says, counted from the last one.
   */
  reschedule(): void {
    this._reschedule();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    this._settle();
  }

  private async _fetch(): Promise<void> {
    this._forced = false;
    this._inFlight++;
    this._options.onLoading?.();
    const outcome = await this._latest.run(() => this._options.fetch());
    this._inFlight--;
    this._lastAttempt = Date.now();
    if (this.isDisposed) {
      return;
    }
    if (outcome) {
      if (outcome.ok) {
        this._options.onResult(outcome.value);
      } else {
        this._options.onError(outcome.error);
      }
    }
    // the pace for the wait that follows (something may have started or ended)
    this._poll.frequency = this._frequency();
    if (outcome) {
      this._settle();
    }
    this._options.onLoading?.();
    if (outcome && !outcome.ok) {
      throw outcome.error; // the poll backs off
    }
  }

  /** The current pace, in the poll's terms (milliseconds; NEVER when none). */
  private _frequency(): { interval: number; max: number; backoff: boolean } {
    const wanted = this._options.fast?.()
      ? seconds(this._options.fastInterval ?? 0) || this._interval
      : this._interval;
    const interval = wanted > 0 ? wanted * 1000 : Poll.NEVER;
    const max =
      interval === Poll.NEVER
        ? MAX_BACKOFF_MS
        : Math.max(interval, MAX_BACKOFF_MS);
    return { interval, max, backoff: true };
  }

  private _reschedule(): void {
    if (this.isDisposed) {
      return;
    }
    const frequency = this._frequency();
    this._poll.frequency = frequency;
    if (!this._active || this._inFlight > 0) {
      // hidden: the standby ticks keep the pace; in flight: it schedules itself
      return;
    }
    const since =
      this._lastAttempt === null ? Infinity : Date.now() - this._lastAttempt;
    if (this._lastAttempt === null || since >= frequency.interval) {
      void this._poll.refresh();
      return;
    }
    void this._poll.schedule({
      interval:
        frequency.interval === Poll.NEVER
          ? Poll.NEVER
          : frequency.interval - since,
      phase: 'standby'
    });
  }

  private _settle(): void {
    const waiters = this._waiters;
    this._waiters = [];
    for (const resolve of waiters) {
      resolve();
    }
  }

  private readonly _options: PanelPoll.IOptions<T>;
  private readonly _poll: Poll<void, unknown, 'standby'>;
  private _interval: number;
  private _active = false;
  private _forced = false;
  private readonly _latest = new Latest();
  private _inFlight = 0;
  private _lastAttempt: number | null = null;
  private _waiters: (() => void)[] = [];
}

export namespace PanelPoll {
  export interface IOptions<T> {
    /** The poll's name (for debugging). */
    name: string;
    /** One fetch of the listing. */
    fetch: () => Promise<T>;
    /** The newest fetch's answer. */
    onResult: (value: T) => void;
    /** Why the newest fetch failed. */
    onError: (error: unknown) => void;
    /** A fetch started or ended (`isLoading` changed). */
    onLoading?: () => void;
    /** Seconds between two fetches; 0 (the default): only on `refresh()`. */
    interval?: number;
    /** Seconds between two fetches while `fast()` is true. */
    fastInterval?: number;
    /** Whether something is in progress that the listing should follow closely. */
    fast?: () => boolean;
  }
}

function seconds(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}
