import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

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
}

/** Finished tasks kept in the panel (until dismissed). */
const KEEP_FINISHED = 3;

/** Milliseconds between two looks at a running task. */
const TASK_POLL_MS = 600;

/**
 * The deployments of one project (the folder of the document in use) and the
 * deploys started from this page. Polls `GET deployments` every `interval`
 * seconds while `active` (the panel is visible), and each running task until it ends.
 */
export class DeployModel implements IDisposable {
  constructor(options: DeployModel.IOptions = {}) {
    this._api = options.api ?? deployAPI;
    this._interval = options.interval ?? 5;
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
    if (this._active) {
      void this.refresh();
    }
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
    return this._pending !== null;
  }

  /** Deploys and rollbacks started here, newest first (running and finished). */
  get tasks(): readonly ITrackedTask[] {
    return this._tasks;
  }

  /** Whether the panel is visible: polling runs only then. */
  get active(): boolean {
    return this._active;
  }
  set active(value: boolean) {
    if (value === this._active) {
      return;
    }
    this._active = value;
    if (value) {
      void this.refresh();
    } else {
      this._clearTimer();
    }
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Fetch the deployments and targets now (once more after one in flight). */
  refresh(): Promise<void> {
    if (this._pending) {
      this._again = true;
      return this._pending;
    }
    this._clearTimer();
    this._pending = (async () => {
      do {
        this._again = false;
        const folder = this._folder;
        try {
          const reply = await this._api.list(folder);
          if (folder === this._folder) {
            this._reply = reply;
            this._failure = null;
          }
        } catch (error) {
          if (folder === this._folder) {
            this._failure = describe(error);
          }
        }
      } while (this._again && !this._isDisposed);
    })().finally(() => {
      this._pending = null;
      this._emit();
      this._schedule();
    });
    this._emit();
    return this._pending;
  }

  /**
   * Deploy a model into `folder` (this model's folder by default); resolves with the
   * deployment once it answers, rejects with the server's one-line message.
   */
  deploy(request: IDeployRequest, folder?: string): Promise<IDeployment> {
    const where = folder ?? this._folder;
    return this._follow(where, 'deploy', request.model, () =>
      this._api.start(where, request)
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
    this._clearTimer();
    Signal.clearData(this);
  }

  /** Start a task, show it, poll it until it ends; the deployment list follows. */
  private async _follow(
    folder: string,
    kind: IDeployTask['kind'],
    label: string,
    start: () => Promise<IDeployTask>
  ): Promise<IDeployment> {
    const tracked: ITrackedTask = {
      folder,
      label,
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
    // the newest first; of the finished ones only the last few stay (the panel is small)
    const finished = this._tasks.filter(t => t.task.state !== 'running');
    const dropped = new Set(finished.slice(KEEP_FINISHED - 1));
    this._tasks = [tracked, ...this._tasks.filter(t => !dropped.has(t))];
    this._emit();
    const update = (task: IDeployTask): void => {
      tracked.task = task;
      this._tasks = [...this._tasks]; // a new array: React sees the change
      this._emit();
    };
    try {
      update(await start());
    } catch (error) {
      tracked.error = describe(error);
      update({ ...tracked.task, state: 'failed', error: tracked.error });
      throw new Error(tracked.error);
    }
    let misses = 0;
    while (tracked.task.state === 'running' && !this._isDisposed) {
      await sleep(TASK_POLL_MS);
      try {
        update(await this._api.task(tracked.task.id));
        misses = 0;
      } catch (error) {
        // a blip (the server busy, a proxy) is not the end of the deploy
        if (++misses >= 10) {
          tracked.error = `lost track of the deploy: ${describe(error)}`;
          update({ ...tracked.task, state: 'failed', error: tracked.error });
        }
      }
    }
    if (folder === this._folder) {
      void this.refresh();
    }
    if (tracked.task.state === 'done' && tracked.task.deployment) {
      return tracked.task.deployment;
    }
    throw new Error(tracked.task.error ?? 'the deploy stopped');
  }

  private _schedule(): void {
    this._clearTimer();
    if (this._isDisposed || !this._active || this._interval <= 0) {
      return;
    }
    this._timer = window.setTimeout(() => {
      this._timer = null;
      if (document.visibilityState === 'hidden') {
        this._schedule();
      } else {
        void this.refresh();
      }
    }, this._interval * 1000);
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

  private readonly _api: typeof deployAPI;
  private readonly _interval: number;
  private readonly _changed = new Signal<this, void>(this);
  private _folder = '';
  private _reply: IDeploymentsReply | null = null;
  private _failure: string | null = null;
  private _tasks: ITrackedTask[] = [];
  private _pending: Promise<void> | null = null;
  private _again = false;
  private _active = false;
  private _timer: number | null = null;
  private _isDisposed = false;
}

export namespace DeployModel {
  export interface IOptions {
    /** The server routes (a stand-in in unit tests). */
    api?: typeof deployAPI;
    /** Seconds between two refreshes of the list while active. */
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
