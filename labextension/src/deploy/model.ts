import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { PanelPoll } from '../panels/poll';
import { deployAPI } from './api';
import {
  IDeployment,
  IDeploymentsReply,
  IDeployRequest,
  IDeployTask
} from './tokens';

/** A deploy or rollback started from this page, followed until it ends. */
export interface ITrackedTask {
  /** The project it deploys into. */
  folder: string;
  /** What was asked: the model URI (deploy) or the deployment's name (rollback). */
  label: string;
  task: IDeployTask;
  /** The request failed before the server made a task (its message). */
  error?: string;
  /** A dry run: the server returns what it would apply and applies nothing. */
  dryRun?: boolean;
  /** Started in another tab or browser: the server's task list showed it. */
  elsewhere?: boolean;
}

/** One look at the project: its deployments, and its deploys running on the server. */
interface IListing {
  reply: IDeploymentsReply;
  running: IDeployTask[];
}

/** Finished tasks kept in the panel (until dismissed). */
const KEEP_FINISHED = 3;

/** Milliseconds between two looks at a running task. */
const TASK_POLL_MS = 600;

/** Seconds between two refreshes of the list while a deploy is running. */
const BUSY_POLL_S = 2;

/**
 * The deployments of one project (the folder of the document in use) and the
 * deploys running on the server (from this page or elsewhere). Polls `GET deployments` every `refreshInterval`
 * seconds while `active` (the panel and the browser tab are visible), every few
 * seconds while a deploy is running, and each running task until it ends.
 */
export class DeployModel implements IDisposable {
  constructor(options: DeployModel.IOptions = {}) {
    this._api = options.api ?? deployAPI;
    this._poll = new PanelPoll<IListing>({
      name: 'jupyter-mlops:deployments',
      interval: options.interval ?? 30,
      fastInterval: BUSY_POLL_S,
      fast: () => this._tasks.some(t => t.task.state === 'running'),
      fetch: async () => {
        // only the newest fetch is handed on: its folder is this one
        const folder = (this._fetched = this._folder);
        const [reply, running] = await Promise.all([
          this._api.list(folder),
          // deploys started elsewhere; without them the panel still works
          this._api.tasks(folder, 'running').catch(() => [])
        ]);
        return { reply, running };
      },
      onResult: ({ reply, running }) => {
        if (this._fetched === this._folder) {
          this._reply = reply;
          this._failure = null;
          this._adopt(this._fetched, running);
        }
      },
      onError: error => {
        if (this._fetched === this._folder) {
          this._failure = describe(error);
        }
      },
      onLoading: () => this._emit()
    });
  }

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
    this._reply = null;
    this._failure = null;
    this._emit();
    this._poll.invalidate();
  }

  /** The last answer of `GET deployments` for this folder; null before one. */
  get reply(): IDeploymentsReply | null {
    return this._reply;
  }

  /** Why the last refresh failed; null when it worked. */
  get failure(): string | null {
    return this._failure;
  }

  get isLoading(): boolean {
    return this._poll.isLoading;
  }

  /** Deploys and rollbacks started here, newest first (running and finished). */
  get tasks(): readonly ITrackedTask[] {
    return this._tasks;
  }

  /** Whether the panel is visible: polling runs only then (and while the tab is). */
  get active(): boolean {
    return this._poll.active;
  }
  set active(value: boolean) {
    this._poll.active = value;
  }

  /**
   * Seconds between two refreshes of the list while no deploy is running (the
   * sidebar's refresh interval setting); 0: only on refresh.
   */
  get refreshInterval(): number {
    return this._poll.interval;
  }
  set refreshInterval(value: number) {
    this._poll.interval = value;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Fetch the deployments and targets now (once more after one in flight). */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  /**
   * Deploy a model into `folder` (this model's folder by default); resolves with the
   * deployment once it answers, rejects with the server's one-line message.
   */
  deploy(request: IDeployRequest, folder?: string): Promise<IDeployment> {
    const where = folder ?? this._folder;
    return this._follow(
      where,
      'deploy',
      request.model,
      () => this._api.start(where, request),
      request.dry_run === true
    );
  }

  /** Return a deployment to its previous version (or drop its canary). */
  rollback(name: string): Promise<IDeployment> {
    const where = this._folder;
    return this._follow(where, 'rollback', name, () =>
      this._api.rollback(where, name)
    );
  }

  /** Stop every version of a deployment and remove it; resolves with its last state. */
  async undeploy(name: string): Promise<IDeployment> {
    try {
      return await this._api.undeploy(this._folder, name);
    } finally {
      void this.refresh();
    }
  }

  /** Send records (or `{columns, data}`, or an MLflow payload) to a deployment. */
  predict(name: string, data: unknown): ReturnType<typeof deployAPI.predict> {
    return this._api.predict(this._folder, name, data);
  }

  /** Forget a finished task (the panel's dismiss button). */
  dismiss(task: ITrackedTask): void {
    this._tasks = this._tasks.filter(t => t !== task);
    this._emit();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    Signal.clearData(this);
  }

  /** Start a task, show it, poll it until it ends; the deployment list follows. */
  private async _follow(
    folder: string,
    kind: IDeployTask['kind'],
    label: string,
    start: () => Promise<IDeployTask>,
    dryRun = false
  ): Promise<IDeployment> {
    const tracked: ITrackedTask = {
      folder,
      label,
      dryRun,
      task: {
        id: '',
        kind,
        name: kind === 'rollback' ? label : null,
        state: 'running',
        progress: [],
        deployment: null,
        error: null,
        status_code: null,
        started_at: Date.now() / 1000,
        finished_at: null
      }
    };
    this._show(tracked);
    try {
      this._update(tracked, await start());
    } catch (error) {
      tracked.error = describe(error);
      this._update(tracked, {
        ...tracked.task,
        state: 'failed',
        error: tracked.error
      });
      throw new Error(tracked.error);
    }
    await this._watch(tracked);
    if (tracked.task.state === 'done' && tracked.task.deployment) {
      return tracked.task.deployment;
    }
    throw new Error(tracked.task.error ?? 'the deploy stopped');
  }

  /**
   * Show the deploys of this project that run on the server but were not started
   * here (another tab, another browser), and follow them too.
   */
  private _adopt(folder: string, running: IDeployTask[]): void {
    if (folder !== this._folder || this._tasks.some(t => t.task.id === '')) {
      return; // another project's; or a start from here has no id yet: next time
    }
    const known = new Set(this._tasks.map(t => t.task.id));
    // the server lists the newest first; shown in that order, newest on top
    for (const task of [...running].reverse()) {
      if (task.state !== 'running' || known.has(task.id)) {
        continue;
      }
      const tracked: ITrackedTask = {
        folder,
        label: task.label || task.name || task.id,
        dryRun: task.dry_run === true,
        elsewhere: true,
        task
      };
      this._show(tracked);
      void this._watch(tracked);
    }
  }

  /** Put a task on top of the list; of the finished ones only the last few stay. */
  private _show(tracked: ITrackedTask): void {
    const finished = this._tasks.filter(t => t.task.state !== 'running');
    const dropped = new Set(finished.slice(KEEP_FINISHED - 1));
    this._tasks = [tracked, ...this._tasks.filter(t => !dropped.has(t))];
    this._emit();
    this._poll.reschedule(); // the list follows the deploy more closely
  }

  private _update(tracked: ITrackedTask, task: IDeployTask): void {
    tracked.task = task;
    this._tasks = [...this._tasks]; // a new array: React sees the change
    this._emit();
  }

  /** Poll a running task until it ends; then the list of deployments again. */
  private async _watch(tracked: ITrackedTask): Promise<void> {
    let misses = 0;
    while (tracked.task.state === 'running' && !this._isDisposed) {
      await sleep(TASK_POLL_MS);
      try {
        this._update(tracked, await this._api.task(tracked.task.id));
        misses = 0;
      } catch (error) {
        // a blip (the server busy, a proxy) is not the end of the deploy
        if (++misses >= 10) {
          tracked.error = `lost track of the deploy: ${describe(error)}`;
          this._update(tracked, {
            ...tracked.task,
            state: 'failed',
            error: tracked.error
          });
        }
      }
    }
    if (tracked.folder === this._folder) {
      void this.refresh();
    } else {
      this._poll.reschedule();
    }
  }

  private _emit(): void {
    if (!this._isDisposed) {
      this._changed.emit();
    }
  }

  private readonly _api: typeof deployAPI;
  private readonly _poll: PanelPoll<IListing>;
  private _fetched = '';
  private readonly _changed = new Signal<this, void>(this);
  private _folder = '';
  private _reply: IDeploymentsReply | null = null;
  private _failure: string | null = null;
  private _tasks: ITrackedTask[] = [];
  private _isDisposed = false;
}

export namespace DeployModel {
  export interface IOptions {
    /** The server routes (a stand-in in unit tests). */
    api?: typeof deployAPI;
    /** Seconds between two refreshes of the list while active (30 by default). */
    interval?: number;
  }
}

/** An error's one-line message. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => window.setTimeout(resolve, ms));
}
