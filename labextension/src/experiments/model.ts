import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { RequestError } from '../handler';
import { PanelPoll } from '../panels/poll';
import { fetchRuns } from './api';
import { IRunsPage, RunsScope, SortOrder } from './tokens';

/** Seconds between refreshes while a listed run is RUNNING. */
export const ACTIVE_POLL_S = 3;

/** The text of any failure, for people. */
export function describe(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}

/** How a Deploy button's deploy goes. */
export interface IDeployState {
  state: 'running' | 'done' | 'failed';
  message: string;
}

/**
 * What the Experiments views share: the project folder and the open notebook (both
 * relative to the server root), the scope (that notebook's runs or the whole
 * experiment's), the runs selected for compare, and deploys started from a run.
 */
export class ExperimentsModel implements IDisposable {
  constructor(options: ExperimentsModel.IOptions) {
    this._deployCommand = options.deployCommand;
  }

  /**
   * Seconds between refreshes of the listings while no listed run is RUNNING (the
   * sidebar's refresh interval setting); 0: only on refresh.
   */
  get refreshInterval(): number {
    return this._refreshInterval;
  }
  set refreshInterval(value: number) {
    if (value !== this._refreshInterval) {
      this._refreshInterval = value;
      this._intervalChanged.emit();
    }
  }

  /** Emitted when `refreshInterval` changes. */
  get intervalChanged(): ISignal<this, void> {
    return this._intervalChanged;
  }

  /** Emitted when folder, notebook or scope change: listings fetch again. */
  get contextChanged(): ISignal<this, void> {
    return this._contextChanged;
  }

  /** Emitted when the selection or a deploy's state changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get folder(): string {
    return this._folder;
  }
  set folder(value: string) {
    if (value !== this._folder) {
      this._folder = value;
      this._contextChanged.emit();
    }
  }

  /** The notebook in use, relative to the server root; null when none is open. */
  get notebook(): string | null {
    return this._notebook;
  }
  set notebook(value: string | null) {
    if (value !== this._notebook) {
      this._notebook = value;
      this._selected = new Set();
      this._contextChanged.emit();
      this._changed.emit();
    }
  }

  get scope(): RunsScope {
    return this._scope;
  }
  set scope(value: RunsScope) {
    if (value !== this._scope) {
      this._scope = value;
      this._contextChanged.emit();
      this._changed.emit();
    }
  }

  /** The notebook to filter by now: null for the whole experiment. */
  get notebookFilter(): string | null {
    return this._scope === 'notebook' ? this._notebook : null;
  }

  /** The notebook scope with no notebook open: nothing to list. */
  get needsNotebook(): boolean {
    return this._scope === 'notebook' && this._notebook === null;
  }

  /** The folder whose configuration (tracking store) is meant. */
  get projectFolder(): string {
    if (this.notebookFilter !== null) {
      const cut = this.notebookFilter.lastIndexOf('/');
      return cut < 0 ? '' : this.notebookFilter.slice(0, cut);
    }
    return this._folder;
  }

  get selected(): ReadonlySet<string> {
    return this._selected;
  }

  isSelected(runId: string): boolean {
    return this._selected.has(runId);
  }

  toggle(runId: string, on?: boolean): void {
    const next = new Set(this._selected);
    const wanted = on ?? !next.has(runId);
    if (wanted) {
      next.add(runId);
    } else {
      next.delete(runId);
    }
    this._selected = next;
    this._changed.emit();
  }

  clearSelection(): void {
    this._selected = new Set();
    this._changed.emit();
  }

  /** The state of a deploy started from a run's model, by model URI. */
  deployState(uri: string): IDeployState | null {
    return this._deploys.get(uri) ?? null;
  }

  /**
   * Deploy a run's model through the Deploy panel's command, which shows the progress
   * in the Deploy panel; the Deploy button says how it ended.
   */
  async deploy(uri: string): Promise<void> {
    this._setDeploy(uri, {
      state: 'running',
      message: 'deploying: follow it in the Deploy panel'
    });
    try {
      const deployment = (await this._deployCommand(
        uri,
        this.projectFolder
      )) as { name?: string } | null;
      this._setDeploy(uri, {
        state: 'done',
        message: deployment?.name
          ? `deployed as ${deployment.name}`
          : 'deploy finished'
      });
    } catch (error) {
      this._setDeploy(uri, { state: 'failed', message: describe(error) });
    }
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (!this._isDisposed) {
      this._isDisposed = true;
      Signal.clearData(this);
    }
  }

  private _setDeploy(uri: string, state: IDeployState): void {
    const next = new Map(this._deploys);
    next.set(uri, state);
    this._deploys = next;
    this._changed.emit();
  }

  private readonly _deployCommand: ExperimentsModel.DeployCommand;
  private readonly _contextChanged = new Signal<this, void>(this);
  private readonly _intervalChanged = new Signal<this, void>(this);
  private _refreshInterval = 30;
  private readonly _changed = new Signal<this, void>(this);
  private _folder = '';
  private _notebook: string | null = null;
  private _scope: RunsScope = 'notebook';
  private _selected: ReadonlySet<string> = new Set();
  private _deploys: ReadonlyMap<string, IDeployState> = new Map();
  private _isDisposed = false;
}

export namespace ExperimentsModel {
  /** Runs the Deploy panel's command: resolves with the deployment, or rejects. */
  export type DeployCommand = (uri: string, folder: string) => Promise<unknown>;

  export interface IOptions {
    deployCommand: DeployCommand;
  }
}

/**
 * One listing of runs (the sidebar's newest few, or a page of the table): its query,
 * the last answer, and polling while shown: every few seconds while a listed run is
 * RUNNING, every `model.refreshInterval` seconds otherwise.
 */
export class RunsList implements IDisposable {
  constructor(
    readonly model: ExperimentsModel,
    options: { limit: number }
  ) {
    this._limit = options.limit;
    this._poll = new PanelPoll<IRunsPage | null>({
      name: 'jupyter-mlops:runs',
      interval: model.refreshInterval,
      fastInterval: ACTIVE_POLL_S,
      fast: () => this._page?.active ?? false,
      fetch: () => this._load(),
      onResult: page => {
        this._page = page;
        this._failure = null;
      },
      onError: error => {
        this._failure =
          error instanceof RequestError
            ? error
            : new RequestError(0, describe(error));
      },
      onLoading: () => this._emit()
    });
    model.contextChanged.connect(this._onContext, this);
    model.intervalChanged.connect(this._onInterval, this);
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get page(): IRunsPage | null {
    return this._page;
  }

  get failure(): RequestError | null {
    return this._failure;
  }

  get isLoading(): boolean {
    return this._poll.isLoading;
  }

  get offset(): number {
    return this._offset;
  }

  get limit(): number {
    return this._limit;
  }

  get sort(): string {
    return this._sort;
  }

  get order(): SortOrder {
    return this._order;
  }

  /** Sort by `key`; the same key again flips the order. */
  sortBy(key: string): void {
    if (key === this._sort) {
      this._order = this._order === 'desc' ? 'asc' : 'desc';
    } else {
      this._sort = key;
      this._order = key === 'run_name' ? 'asc' : 'desc';
    }
    this._offset = 0;
    void this.refresh();
  }

  goTo(offset: number): void {
    this._offset = Math.max(0, offset);
    void this.refresh();
  }

  /** Whether the listing is shown: it polls only then (and while the tab is visible). */
  get active(): boolean {
    return this._poll.active;
  }
  set active(value: boolean) {
    this._poll.active = value;
  }

  /** Fetch now (once more after a request in flight). */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    this.model.contextChanged.disconnect(this._onContext, this);
    this.model.intervalChanged.disconnect(this._onInterval, this);
    Signal.clearData(this);
  }

  private async _load(): Promise<IRunsPage | null> {
    const model = this.model;
    if (model.needsNotebook) {
      return null;
    }
    return fetchRuns({
      folder: model.projectFolder,
      notebook: model.notebookFilter,
      offset: this._offset,
      limit: this._limit,
      sort: this._sort,
      order: this._order
    });
  }

  private _onInterval(): void {
    this._poll.interval = this.model.refreshInterval;
  }

  private _onContext(): void {
    this._offset = 0;
    this._page = null; // it describes another notebook or project
    this._emit();
    this._poll.invalidate();
  }

  private _emit(): void {
    if (!this._isDisposed) {
      this._changed.emit();
    }
  }

  private readonly _changed = new Signal<this, void>(this);
  private _page: IRunsPage | null = null;
  private _failure: RequestError | null = null;
  private readonly _poll: PanelPoll<IRunsPage | null>;
  private _offset = 0;
  private readonly _limit: number;
  private _sort = 'start_time';
  private _order: SortOrder = 'desc';
  private _isDisposed = false;
}
