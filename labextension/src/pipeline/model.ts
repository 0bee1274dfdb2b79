import { Cell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { Latest } from '../panels/poll';
import * as api from './api';
import { cellIndex, notebookContent, readMark, writeMark } from './notebook';
import {
  ExportTarget,
  IExportResult,
  IPipelineDag,
  IPipelineRun,
  IRunRequest,
  IRunSummary,
  IStepMark
} from './types';

/** Wait this long after the last edit before asking for the DAG again. */
const DEBOUNCE_MS = 600;
/** How often a running run's state is fetched. */
const POLL_MS = 1000;
/** How many of the notebook's runs the panel lists. */
const RECENT_RUNS = 5;

/**
 * The Pipeline panel's state for the notebook in use: its DAG (fetched again, debounced,
 * as the notebook is edited), the run shown (polled while it runs) and its recent runs.
 */
export class PipelineModel implements IDisposable {
  constructor(notebooks: INotebookTracker) {
    this._notebooks = notebooks;
    notebooks.currentChanged.connect(this._onCurrentChanged, this);
    notebooks.activeCellChanged.connect(this._emit, this);
    notebooks.selectionChanged.connect(this._emit, this);
    this._follow(notebooks.currentWidget);
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The notebook the panel describes (the last one in use). */
  get panel(): NotebookPanel | null {
    return this._panel;
  }

  /** Its path, relative to the server root ("" when there is none). */
  get path(): string {
    return this._panel ? serverPath(this._panel.context.path) : '';
  }

  get dag(): IPipelineDag | null {
    return this._dag;
  }

  /** Why the DAG could not be read (a step named twice, a cycle, …). */
  get dagError(): string | null {
    return this._dagError;
  }

  get isLoading(): boolean {
    return this._loading;
  }

  /** The run shown: the one started here, or the notebook's latest. */
  get run(): IPipelineRun | null {
    return this._run;
  }

  get runs(): IRunSummary[] {
    return this._runs;
  }

  /** The last failed action (start, stop, export …), said in one line. */
  get actionError(): string | null {
    return this._actionError;
  }

  /** Whether a start or stop request is in flight. */
  get isBusy(): boolean {
    return this._busy;
  }

  /** The active cell of the notebook, and the step mark it carries. */
  get activeCell(): { index: number; cell: Cell } | null {
    const notebook = this._panel?.content;
    if (!notebook || !notebook.activeCell) {
      return null;
    }
    return { index: notebook.activeCellIndex, cell: notebook.activeCell };
  }

  /**
   * Whether the panel is on screen: the DAG and the runs are fetched only then (and once
   * when it becomes visible after edits or another notebook).
   */
  get active(): boolean {
    return this._active;
  }
  set active(value: boolean) {
    if (value === this._active) {
      return;
    }
    this._active = value;
    if (value && this._stale) {
      this._schedule(0);
    }
    if (value && this._runsStale) {
      this._runsStale = false;
      void this.refreshRuns();
    }
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._notebooks.currentChanged.disconnect(this._onCurrentChanged, this);
    this._notebooks.activeCellChanged.disconnect(this._emit, this);
    this._notebooks.selectionChanged.disconnect(this._emit, this);
    this._follow(null);
    Signal.clearData(this);
  }

  /** Fetches the DAG now (from the editor's content, saved or not). */
  async refresh(): Promise<void> {
    const panel = this._panel;
    if (!panel) {
      return;
    }
    this._clearTimer();
    this._stale = false;
    const content = notebookContent(panel);
    const key = JSON.stringify(content.cells);
    this._loading = true;
    this._emit();
    const outcome = await this._dagFetch.run(() =>
      api.fetchDag(this.path, content)
    );
    if (!outcome) {
      return; // a newer request (or another notebook) took over
    }
    this._dag = outcome.ok ? outcome.value : this._dag;
    this._dagError = outcome.ok ? null : message(outcome.error);
    this._contentKey = key;
    this._loading = false;
    this._emit();
  }

  /** Fetches the notebook's recent runs (and shows the latest when none is shown). */
  async refreshRuns(): Promise<void> {
    const path = this.path;
    if (!path) {
      return;
    }
    const outcome = await this._runsFetch.run(() => api.listRuns(path));
    if (!outcome) {
      return; // a newer listing (or another notebook) took over
    }
    if (outcome.ok) {
      this._runs = outcome.value.runs.slice(0, RECENT_RUNS);
      const latest = outcome.value.runs[0];
      if (!this._run && latest) {
        await this.showRun(latest.run_id);
      }
    } else {
      this._runs = [];
      this._actionError = message(outcome.error);
    }
    this._emit();
  }

  /** Shows one of the notebook's runs, polling it while it runs. */
  async showRun(runId: string): Promise<void> {
    const path = this.path;
    try {
      const run = await api.fetchRun(path, runId);
      if (path === this.path) {
        this._setRun(run);
      }
    } catch (error) {
      this._actionError = message(error);
      this._emit();
    }
  }

  /** Saves the notebook when it has unsaved changes (a run reads the saved file), then
   * starts a run. */
  async startRun(request: IRunRequest): Promise<void> {
    const panel = this._panel;
    if (!panel || this._busy) {
      return;
    }
    this._busy = true;
    this._actionError = null;
    this._emit();
    try {
      if (panel.context.model.dirty) {
        await panel.context.save();
      }
      const run = await api.startRun(this.path, request);
      this._setRun(run);
      void this.refreshRuns();
    } catch (error) {
      this._actionError = message(error);
    } finally {
      this._busy = false;
      this._emit();
    }
  }

  async stopRun(): Promise<void> {
    const run = this._run;
    if (!run || run.state !== 'running' || this._busy) {
      return;
    }
    this._busy = true;
    this._actionError = null;
    this._emit();
    try {
      this._setRun(await api.stopRun(this.path, run.run_id));
      void this.refreshRuns();
    } catch (error) {
      this._actionError = message(error);
    } finally {
      this._busy = false;
      this._emit();
    }
  }

  async exportTo(
    target: ExportTarget,
    outDir: string,
    schedule: string
  ): Promise<IExportResult> {
    const panel = this._panel;
    if (panel?.context.model.dirty) {
      await panel.context.save();
    }
    return api.exportPipeline(this.path, target, outDir, schedule);
  }

  /** Writes (or, with null, clears) the active cell's `mlops.step` metadata. */
  setStep(mark: IStepMark | null): void {
    const active = this.activeCell;
    if (!active) {
      return;
    }
    writeMark(active.cell, mark);
    this._schedule(0);
  }

  /** The mark of the active cell (metadata, or a magic line / tag). */
  activeMark(): ReturnType<typeof readMark> | null {
    const active = this.activeCell;
    return active ? readMark(active.cell) : null;
  }

  /** The cell index of a step's cells in the open notebook. */
  stepCells(name: string): number[] {
    const panel = this._panel;
    const step = this._dag?.steps.find(s => s.name === name);
    if (!panel || !step) {
      return [];
    }
    const found: number[] = [];
    step.cells.forEach((index, i) => {
      const at = cellIndex(panel, step.cell_ids[i], index);
      if (at !== null) {
        found.push(at);
      }
    });
    return found;
  }

  /** The step whose cells include the active cell. */
  activeStep(): string | null {
    const active = this.activeCell;
    const panel = this._panel;
    if (!active || !panel || !this._dag) {
      return null;
    }
    for (const step of this._dag.steps) {
      if (this.stepCells(step.name).includes(active.index)) {
        return step.name;
      }
    }
    return null;
  }

  private _setRun(run: IPipelineRun): void {
    const finished =
      this._run?.run_id === run.run_id &&
      this._run.state === 'running' &&
      run.state !== 'running';
    this._run = run;
    this._clearPoll();
    if (run.state === 'running') {
      this._poll = window.setTimeout(() => {
        this._poll = null;
        void this.showRun(run.run_id);
      }, POLL_MS);
    } else if (finished) {
      void this.refreshRuns();
    }
    this._emit();
  }

  private _onCurrentChanged(
    tracker: INotebookTracker,
    panel: NotebookPanel | null
  ): void {
    // the sidebar keeps describing the last notebook while another kind of tab is in use
    if (panel && panel !== this._panel) {
      this._follow(panel);
    }
  }

  private _follow(panel: NotebookPanel | null): void {
    if (this._panel) {
      this._panel.context.model.contentChanged.disconnect(
        this._onContentChanged,
        this
      );
      this._panel.disposed.disconnect(this._onPanelDisposed, this);
    }
    this._clearTimer();
    this._clearPoll();
    // answers about the previous notebook are dropped
    this._dagFetch.cancel();
    this._runsFetch.cancel();
    this._panel = panel;
    this._dag = null;
    this._dagError = null;
    this._run = null;
    this._runs = [];
    this._actionError = null;
    this._contentKey = '';
    this._loading = false;
    if (panel) {
      panel.disposed.connect(this._onPanelDisposed, this);
      void panel.context.ready.then(() => {
        if (this._panel !== panel || this._disposed) {
          return;
        }
        panel.context.model.contentChanged.connect(
          this._onContentChanged,
          this
        );
        this._schedule(0);
        if (this._active) {
          void this.refreshRuns();
        } else {
          this._runsStale = true;
        }
      });
    }
    this._emit();
  }

  private _onPanelDisposed(): void {
    this._follow(this._notebooks.currentWidget);
  }

  private _onContentChanged(): void {
    this._schedule(DEBOUNCE_MS);
  }

  /** Fetches the DAG after `delay` ms, when on screen and what the server reads changed. */
  private _schedule(delay: number): void {
    this._clearTimer();
    if (!this._active) {
      this._stale = true;
      return;
    }
    this._timer = window.setTimeout(() => {
      this._timer = null;
      const panel = this._panel;
      if (!panel) {
        return;
      }
      const key = JSON.stringify(notebookContent(panel).cells);
      if (key !== this._contentKey || (!this._dag && !this._dagError)) {
        void this.refresh();
      }
    }, delay);
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _clearPoll(): void {
    if (this._poll !== null) {
      window.clearTimeout(this._poll);
      this._poll = null;
    }
  }

  private _emit(): void {
    if (!this._disposed) {
      this._changed.emit();
    }
  }

  private readonly _notebooks: INotebookTracker;
  private readonly _changed = new Signal<this, void>(this);
  private _panel: NotebookPanel | null = null;
  private _dag: IPipelineDag | null = null;
  private _dagError: string | null = null;
  private _run: IPipelineRun | null = null;
  private _runs: IRunSummary[] = [];
  private _actionError: string | null = null;
  private _loading = false;
  private _busy = false;
  private _active = false;
  private _stale = false;
  private _runsStale = false;
  private _disposed = false;
  private _timer: number | null = null;
  private _poll: number | null = null;
  private readonly _dagFetch = new Latest();
  private readonly _runsFetch = new Latest();
  private _contentKey = '';
}

/** A document path as the server sees it (drive prefixes such as "RTC:" removed). */
export function serverPath(path: string): string {
  return path.replace(/^[^/:]+:/, '');
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
