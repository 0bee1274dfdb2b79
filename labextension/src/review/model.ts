import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { Latest } from '../panels/poll';
import {
  IReviewTarget,
  fetchDiff,
  fetchDiffFiles,
  fetchReview,
  postApply,
  postComment,
  postReply,
  postResolve,
  postVerdict
} from './api';
import {
  DEFAULT_FILTERS,
  ICommentAnchor,
  IDiffFilters,
  IDiffReply,
  IReview,
  Revision
} from './tokens';

/**
 * The state of one diff view: which notebook and revisions it compares, the diff, the
 * review with its threads, and the calls that change them. Answers that arrive after
 * a newer request was made are dropped.
 */
export class ReviewDiffModel implements IDisposable {
  constructor(options: ReviewDiffModel.IOptions) {
    this.path = options.path;
    this.files = options.files ?? false;
    this._base = options.base;
    this._head = options.head;
    this._onReviewChanged = options.onReviewChanged ?? (() => undefined);
    this._onWorkingCopyChanged =
      options.onWorkingCopyChanged ?? (() => undefined);
  }

  readonly path: string;

  /** Two notebook files compared (`base` and `head` are their paths): no review. */
  readonly files: boolean;

  get base(): Revision {
    return this._base;
  }

  get head(): Revision {
    return this._head;
  }

  get filters(): IDiffFilters {
    return this._filters;
  }

  get diff(): IDiffReply | null {
    return this._diff;
  }

  get review(): IReview | null {
    return this._review;
  }

  /** Why the diff could not be fetched (the server's one line). */
  get diffError(): string | null {
    return this._diffError;
  }

  /** Why the review could not be fetched or changed. */
  get reviewError(): string | null {
    return this._reviewError;
  }

  get isLoading(): boolean {
    return this._loading > 0;
  }

  /** Emitted whenever anything above changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted when the revisions change (the view's title and identity follow). */
  get revisionsChanged(): ISignal<this, void> {
    return this._revisionsChanged;
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

  /** Fetch the diff and the review again. */
  async load(): Promise<void> {
    await Promise.all([this.loadDiff(), this.loadReview()]);
  }

  async setRevisions(base: Revision, head: Revision): Promise<void> {
    if (base === this._base && head === this._head) {
      return;
    }
    this._base = base;
    this._head = head;
    this._revisionsChanged.emit();
    await this.load();
  }

  async setFilters(filters: Partial<IDiffFilters>): Promise<void> {
    this._filters = { ...this._filters, ...filters };
    this._changed.emit();
    await this.loadDiff();
  }

  async loadDiff(): Promise<void> {
    const { path, _base: base, _head: head, _filters: filters } = this;
    await this._track(async () => {
      const outcome = await this._diffFetch.run(() =>
        this.files
          ? fetchDiffFiles(base, head, filters)
          : fetchDiff(path, base, head, filters)
      );
      if (outcome) {
        this._diff = outcome.ok ? outcome.value : null;
        this._diffError = outcome.ok ? null : describe(outcome.error);
      }
    });
  }

  async loadReview(): Promise<void> {
    const { path, _base: base, _head: head } = this;
    if (this.files) {
      return; // two files have no review
    }
    await this._track(async () => {
      const outcome = await this._reviewFetch.run(() =>
        fetchReview(path, base, head)
      );
      if (outcome?.ok) {
        this._review = outcome.value;
        this._reviewError = null;
      } else if (outcome) {
        this._reviewError = describe(outcome.error);
      }
    });
  }

  /** Start a thread; resolves false (with `reviewError` set) when the server refused. */
  comment(
    anchor: ICommentAnchor,
    text: string,
    suggestion: string | null
  ): Promise<boolean> {
    return this._write(() =>
      postComment(this.path, this._base, this._head, anchor, text, suggestion)
    );
  }

  reply(threadId: string, text: string): Promise<boolean> {
    return this._write(() => postReply(this._target(), threadId, text));
  }

  resolve(threadId: string, resolved: boolean): Promise<boolean> {
    return this._write(() => postResolve(this._target(), threadId, resolved));
  }

  /** Apply a suggestion to the working copy, then fetch the diff again too. */
  async applySuggestion(threadId: string, commentId: string): Promise<boolean> {
    const ok = await this._write(() =>
      postApply(this._target(), threadId, commentId)
    );
    if (ok) {
      this._onWorkingCopyChanged(this.path);
      await this.loadDiff();
    }
    return ok;
  }

  verdict(
    verdict: 'approve' | 'request-changes',
    text: string
  ): Promise<boolean> {
    return this._write(() =>
      postVerdict(verdict, this.path, this._base, this._head, text)
    );
  }

  private _target(): IReviewTarget {
    return { path: this.path, base: this._base, head: this._head };
  }

  private async _write(call: () => Promise<unknown>): Promise<boolean> {
    if (this.files) {
      this._reviewError = 'Two files compared have no review to comment on.';
      this._changed.emit();
      return false;
    }
    const ok = await this._track(async () => {
      try {
        await call();
        return true;
      } catch (error) {
        this._reviewError = describe(error);
        return false;
      }
    });
    if (ok) {
      this._onReviewChanged(this.path);
      await this.loadReview();
    }
    return ok;
  }

  /** Counts `work` as loading while it runs; the view is told when it starts and ends. */
  private async _track<T>(work: () => Promise<T>): Promise<T> {
    this._loading++;
    this._changed.emit();
    try {
      return await work();
    } finally {
      this._loading--;
      if (!this._isDisposed) {
        this._changed.emit();
      }
    }
  }

  private _base: Revision;
  private _head: Revision;
  private _filters: IDiffFilters = { ...DEFAULT_FILTERS };
  private _diff: IDiffReply | null = null;
  private _review: IReview | null = null;
  private _diffError: string | null = null;
  private _reviewError: string | null = null;
  private _loading = 0;
  private readonly _diffFetch = new Latest();
  private readonly _reviewFetch = new Latest();
  private _isDisposed = false;
  private readonly _onReviewChanged: (path: string) => void;
  private readonly _onWorkingCopyChanged: (path: string) => void;
  private readonly _changed = new Signal<this, void>(this);
  private readonly _revisionsChanged = new Signal<this, void>(this);
}

export namespace ReviewDiffModel {
  export interface IOptions {
    path: string;
    base: Revision;
    head: Revision;
    /** Compare the files `base` and `head` (`path`: `head`), without a review. */
    files?: boolean;
    /** Called after a comment, reply, resolve, apply or verdict was saved. */
    onReviewChanged?: (path: string) => void;
    /** Called after a suggestion was applied to the notebook's file. */
    onWorkingCopyChanged?: (path: string) => void;
  }
}

/** A failure in one line, for people. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
