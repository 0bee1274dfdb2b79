import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { Latest } from '../../panels/poll';
import { fetchConflicts, postConflictResolutions } from '../api';
import { describe } from '../model';
import {
  ConflictKind,
  IConflict,
  IConflictsReply,
  IResolution,
  IResolveReply,
  Take
} from './tokens';

/** What a person chose for one conflict (`source`: the text edited, for `edit`). */
export interface IChoice {
  take: Take;
  source: string;
}

/** The ways out a conflict of each kind offers. */
export function takesFor(kind: ConflictKind): Take[] {
  switch (kind) {
    case 'source':
    case 'both-added':
      return ['local', 'remote', 'both', 'edit'];
    case 'deleted-vs-modified':
      return ['local', 'remote', 'edit'];
    case 'outputs':
    case 'metadata':
      return ['local', 'remote'];
  }
}

/**
 * The state of one Merge view: the conflicts of a notebook, what was chosen for each,
 * and the write that resolves them (and `git add`s the notebook once none is left).
 */
export class MergeModel implements IDisposable {
  constructor(
    readonly path: string,
    private readonly _hooks: MergeModel.IHooks = {}
  ) {}

  get conflicts(): IConflict[] | null {
    return this._reply?.conflicts ?? null;
  }

  get error(): string | null {
    return this._error;
  }

  /** The last write's answer. */
  get result(): IResolveReply | null {
    return this._result;
  }

  get isLoading(): boolean {
    return this._loading;
  }

  get isWriting(): boolean {
    return this._writing;
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
    Signal.clearData(this);
  }

  choice(id: string): IChoice | null {
    return this._choices.get(id) ?? null;
  }

  /** How many of the conflicts have a choice. */
  get chosen(): number {
    return (this.conflicts ?? []).filter(c => this._choices.has(c.id)).length;
  }

  choose(id: string, choice: IChoice | null): void {
    if (choice) {
      this._choices.set(id, choice);
    } else {
      this._choices.delete(id);
    }
    this._emit();
  }

  /** Fetch the conflicts again; choices for conflicts still there are kept. */
  async load(): Promise<void> {
    this._loading = true;
    this._emit();
    const outcome = await this._fetch.run(() => fetchConflicts(this.path));
    if (!outcome || this._isDisposed) {
      return; // a newer load is on its way
    }
    this._loading = false;
    if (outcome.ok) {
      this._reply = outcome.value;
      this._error = null;
      const ids = new Set(outcome.value.conflicts.map(c => c.id));
      for (const id of [...this._choices.keys()]) {
        if (!ids.has(id)) {
          this._choices.delete(id);
        }
      }
    } else {
      this._reply = null;
      this._error = describe(outcome.error);
    }
    this._emit();
  }

  /** Write the chosen resolutions to the notebook and stage it once no conflict is left. */
  async write(): Promise<boolean> {
    const resolutions: IResolution[] = [];
    for (const conflict of this.conflicts ?? []) {
      const choice = this._choices.get(conflict.id);
      if (choice) {
        resolutions.push(
          choice.take === 'edit'
            ? { id: conflict.id, take: 'edit', source: choice.source }
            : { id: conflict.id, take: choice.take }
        );
      }
    }
    if (resolutions.length === 0 || this._writing) {
      return false;
    }
    this._writing = true;
    this._emit();
    try {
      await this._hooks.beforeWrite?.(this.path);
      this._result = await postConflictResolutions(
        this.path,
        resolutions,
        true
      );
      this._error = null;
    } catch (error) {
      this._error = describe(error);
      return false;
    } finally {
      this._writing = false;
      this._emit();
    }
    this._hooks.onWritten?.(this._result);
    await this.load();
    return true;
  }

  private _emit(): void {
    if (!this._isDisposed) {
      this._changed.emit();
    }
  }

  private _reply: IConflictsReply | null = null;
  private _error: string | null = null;
  private _result: IResolveReply | null = null;
  private _loading = false;
  private _writing = false;
  private readonly _choices = new Map<string, IChoice>();
  private readonly _fetch = new Latest();
  private _isDisposed = false;
  private readonly _changed = new Signal<this, void>(this);
}

export namespace MergeModel {
  export interface IHooks {
    /** Called before resolutions are written (an open editor saves its edits). */
    beforeWrite?: (path: string) => Promise<void>;
    /** Called after resolutions were written to the notebook's file. */
    onWritten?: (reply: IResolveReply) => void;
  }
}
