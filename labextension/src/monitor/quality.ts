import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { PanelPoll } from '../panels/poll';
import { monitorAPI } from './api';
import { describe } from './format';
import {
  ICheckResult,
  IDriftReport,
  IPerformanceReply,
  IRule,
  MetricName
} from './tokens';

/** The window of the drift table and the performance chart. */
export const QUALITY_SINCE = '24h';

/**
 * Seconds between two looks at least: a drift report reads the window's log (its
 * complete hours from the server's cache), so it is not asked as often as the
 * sparklines' summary; "Check now" and the refresh button look at once.
 */
const MIN_INTERVAL_S = 30;

/** Which deployment of which project. */
export interface IQualityTarget {
  folder: string;
  name: string;
}

/**
 * One look at a deployment's model quality: its drift against the reference, its
 * performance on labelled requests and its rules. Each part is read on its own: one
 * that fails says why in its place (`…Error`) and leaves the others shown.
 */
export interface IQualityLook extends IQualityTarget {
  drift: IDriftReport | null;
  driftError: string | null;
  performance: IPerformanceReply | null;
  performanceError: string | null;
  rules: IRule[] | null;
  rulesError: string | null;
}

/** The last "Check now" of a deployment: its result or why it failed. */
export interface ICheckOutcome extends IQualityTarget {
  result: ICheckResult | null;
  error: string | null;
}

/**
 * Monitor II for the deployment the Monitor panel shows: drift, performance and
 * rules (polled while `active`, every `refreshInterval` seconds but at most every
 * 30 s), and the "Check now" action, which evaluates the rules on the server and
 * then looks again.
 */
export class QualityModel implements IDisposable {
  constructor(options: QualityModel.IOptions = {}) {
    this._api = options.api ?? monitorAPI;
    this._poll = new PanelPoll<IQualityLook | null>({
      name: 'jupyter-mlops:monitor-quality',
      fetch: () => this._look(),
      onResult: look => {
        if (look === null || this._isTarget(look)) {
          this._current = look;
          this._emit();
        }
      },
      onError: () => {
        // each part catches its own failure: nothing reaches here but a bug
      },
      onLoading: () => this._emit()
    });
  }

  /** Emitted whenever anything shown from this model changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The deployment looked at; null: none (a project without deployments). */
  get target(): IQualityTarget | null {
    return this._target;
  }
  set target(value: IQualityTarget | null) {
    const same =
      value === this._target ||
      (value !== null &&
        this._target !== null &&
        value.folder === this._target.folder &&
        value.name === this._target.name);
    if (same) {
      return;
    }
    this._target = value === null ? null : { ...value };
    this._current = null;
    this._emit();
    this._poll.invalidate();
  }

  /** The metric of the performance chart (accuracy until another is chosen). */
  get metric(): MetricName {
    return this._metric;
  }
  set metric(value: MetricName) {
    if (value !== this._metric) {
      this._metric = value;
      this._emit();
      this._poll.invalidate();
    }
  }

  /** The newest look at the target; null before one (or without a target). */
  get current(): IQualityLook | null {
    return this._current;
  }

  get isLoading(): boolean {
    return this._poll.isLoading;
  }

  /** Whether a check of the target is running. */
  get isChecking(): boolean {
    return this._checking !== null && this._isTarget(this._checking);
  }

  /** The target's last check (this session's), null when none. */
  get lastCheck(): ICheckOutcome | null {
    const last = this._lastCheck;
    return last && this._isTarget(last) ? last : null;
  }

  get active(): boolean {
    return this._poll.active;
  }
  set active(value: boolean) {
    this._poll.active = value;
  }

  /** Seconds between two looks (at least 30); 0: only on refresh. */
  get refreshInterval(): number {
    return this._poll.interval;
  }
  set refreshInterval(value: number) {
    this._poll.interval = value > 0 ? Math.max(value, MIN_INTERVAL_S) : 0;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Look now. */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  /**
   * Evaluate the target's rules on the server (a rule that holds fires, outside its
   * cooldown), keep the result, then look again (drift and rules changed).
   */
  async check(): Promise<void> {
    const target = this._target;
    if (target === null || this.isChecking) {
      return;
    }
    this._checking = target;
    this._emit();
    let outcome: ICheckOutcome;
    try {
      const result = await this._api.check(target.folder, target.name);
      outcome = { ...target, result, error: null };
    } catch (error) {
      outcome = { ...target, result: null, error: describe(error) };
    }
    if (this._isDisposed) {
      return;
    }
    this._lastCheck = outcome;
    try {
      await this.refresh();
    } finally {
      this._checking = null;
      this._emit();
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    Signal.clearData(this);
  }

  /** The three parts of the target, side by side; each failure in its own place. */
  private async _look(): Promise<IQualityLook | null> {
    const target = this._target;
    if (target === null) {
      return null;
    }
    const { folder, name } = target;
    const [drift, performance, rules] = await Promise.allSettled([
      this._api.drift(folder, name, QUALITY_SINCE),
      this._api.performance(folder, name, this._metric, QUALITY_SINCE),
      this._api.rules(folder, name)
    ]);
    return {
      folder,
      name,
      drift: drift.status === 'fulfilled' ? drift.value : null,
      driftError: drift.status === 'rejected' ? describe(drift.reason) : null,
      performance:
        performance.status === 'fulfilled' ? performance.value : null,
      performanceError:
        performance.status === 'rejected' ? describe(performance.reason) : null,
      rules: rules.status === 'fulfilled' ? rules.value.rules : null,
      rulesError: rules.status === 'rejected' ? describe(rules.reason) : null
    };
  }

  /** Whether `what` is about the deployment looked at now. */
  private _isTarget(what: IQualityTarget): boolean {
    const target = this._target;
    return (
      target !== null &&
      what.folder === target.folder &&
      what.name === target.name
    );
  }

  private _emit(): void {
    if (!this._isDisposed) {
      this._changed.emit();
    }
  }

  private readonly _api: typeof monitorAPI;
  private readonly _poll: PanelPoll<IQualityLook | null>;
  private readonly _changed = new Signal<this, void>(this);
  private _target: IQualityTarget | null = null;
  private _current: IQualityLook | null = null;
  private _metric: MetricName = 'accuracy';
  private _checking: IQualityTarget | null = null;
  private _lastCheck: ICheckOutcome | null = null;
  private _isDisposed = false;
}

export namespace QualityModel {
  export interface IOptions {
    /** The server routes (a stand-in in unit tests). */
    api?: typeof monitorAPI;
  }
}
