import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { PanelPoll } from '../panels/poll';
import { monitorAPI } from './api';
import { describe } from './format';
import { QualityModel } from './quality';
import {
  IInferencesReply,
  IMonitorDeploymentsReply,
  IMonitorSummary
} from './tokens';

/** The requests the table shows. */
export const LATEST_REQUESTS = 20;

/** The window of the charts and the table. */
export const SINCE = '1h';

/**
 * Seconds between two looks at most: the serving process measures 10-second
 * intervals, so the charts gain a point about that often.
 */
const MAX_INTERVAL_S = 10;

/** What a look was asked: which project, which deployment (null: the first). */
interface IQuestion {
  folder: string;
  selected: string | null;
}

/** What one look at the project shows: its deployments, and the chosen one's details. */
export interface IMonitorLook extends IQuestion {
  reply: IMonitorDeploymentsReply;
  /** The deployment shown (the chosen one, else the first); null when there is none. */
  name: string | null;
  summary: IMonitorSummary | null;
  inferences: IInferencesReply | null;
  /** Why the chosen deployment's details could not be read (its list was). */
  error: string | null;
}

/**
 * The monitored deployments of one project (the folder of the document in use) and
 * the chosen one's summary (version, device, totals, series of the last hour) and
 * latest logged requests. Polls while `active` (the panel and the browser tab are
 * visible), every `refreshInterval` seconds but at least every 10 s.
 */
export class MonitorModel implements IDisposable {
  constructor(options: MonitorModel.IOptions = {}) {
    this._api = options.api ?? monitorAPI;
    this.quality = new QualityModel({ api: this._api });
    this.quality.changed.connect(this._emit, this);
    this._poll = new PanelPoll<IMonitorLook>({
      name: 'jupyter-mlops:monitor',
      interval: MAX_INTERVAL_S,
      fetch: () => this._look(),
      onResult: look => {
        if (this._answers(look)) {
          this._current = look;
          this._failure = null;
          this.quality.target =
            look.name === null
              ? null
              : { folder: look.folder, name: look.name };
          this._emit();
        }
      },
      onError: error => {
        if (this._answers(this._asked)) {
          this._failure = describe(error);
          this._emit();
        }
      },
      onLoading: () => this._emit()
    });
  }

  /** Drift, performance and rules of the deployment shown (Monitor II). */
  readonly quality: QualityModel;

  /** Emitted whenever anything shown from this model changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The project folder, relative to the server root. Changing it fetches again. */
  get folder(): string {
    return this._folder;
  }
  set folder(value: string) {
    if (value === this._folder) {
      return;
    }
    this._folder = value;
    this._current = null;
    this._failure = null;
    this.quality.target = null;
    this._emit();
    this._poll.invalidate();
  }

  /** The deployment asked for (null: the first one listed). Choosing one fetches it. */
  get selected(): string | null {
    return this._selected;
  }
  set selected(value: string | null) {
    if (value === this._selected) {
      return;
    }
    this._selected = value;
    if (this._current && this._current.name !== value) {
      // what is shown is another deployment's: say so until the new one is in
      this._current = {
        ...this._current,
        name: value,
        summary: null,
        inferences: null,
        error: null
      };
      if (value !== null) {
        this.quality.target = { folder: this._current.folder, name: value };
      }
    }
    this._emit();
    this._poll.invalidate();
  }

  /** The newest look at the project of `folder`; null before one. */
  get current(): IMonitorLook | null {
    return this._current;
  }

  /** Why the last look failed (the server's one line); null when it worked. */
  get failure(): string | null {
    return this._failure;
  }

  get isLoading(): boolean {
    return this._poll.isLoading;
  }

  /** Whether the panel is visible: polling runs only then (and while the tab is). */
  get active(): boolean {
    return this._poll.active;
  }
  set active(value: boolean) {
    this._poll.active = value;
    this.quality.active = value;
  }

  /**
   * Seconds between two looks (the sidebar's refresh interval setting, at most
   * 10 s); 0: only on refresh.
   */
  get refreshInterval(): number {
    return this._poll.interval;
  }
  set refreshInterval(value: number) {
    this._poll.interval = value > 0 ? Math.min(value, MAX_INTERVAL_S) : 0;
    this.quality.refreshInterval = value;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Look now (once more after a look in flight), at Monitor II's parts too. */
  async refresh(): Promise<void> {
    await Promise.all([this._poll.refresh(), this.quality.refresh()]);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    this.quality.dispose();
    Signal.clearData(this);
  }

  /** The deployments of the folder, then the shown one's summary and requests. */
  private async _look(): Promise<IMonitorLook> {
    const asked = (this._asked = {
      folder: this._folder,
      selected: this._selected
    });
    const { folder, selected } = asked;
    const reply = await this._api.list(folder);
    const names = reply.deployments.map(d => d.name);
    const name =
      selected !== null && names.includes(selected)
        ? selected
        : (names[0] ?? null);
    const look: IMonitorLook = {
      ...asked,
      reply,
      name,
      summary: null,
      inferences: null,
      error: null
    };
    if (name !== null) {
      try {
        [look.summary, look.inferences] = await Promise.all([
          this._api.summary(folder, name, SINCE),
          this._api.inferences(folder, name, LATEST_REQUESTS, SINCE)
        ]);
      } catch (error) {
        look.error = describe(error);
      }
    }
    return look;
  }

  /**
   * Whether a look answers what the panel asks now (not another project's, or the
   * deployment shown before another was chosen: a newer look follows those).
   */
  private _answers(question: IQuestion): boolean {
    return (
      question.folder === this._folder && question.selected === this._selected
    );
  }

  private _emit(): void {
    if (!this._isDisposed) {
      this._changed.emit();
    }
  }

  private readonly _api: typeof monitorAPI;
  private readonly _poll: PanelPoll<IMonitorLook>;
  private readonly _changed = new Signal<this, void>(this);
  private _folder = '';
  private _selected: string | null = null;
  private _asked: IQuestion = { folder: '', selected: null };
  private _current: IMonitorLook | null = null;
  private _failure: string | null = null;
  private _isDisposed = false;
}

export namespace MonitorModel {
  export interface IOptions {
    /** The server routes (a stand-in in unit tests). */
    api?: typeof monitorAPI;
  }
}
