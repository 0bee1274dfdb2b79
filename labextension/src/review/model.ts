import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import {
  IReviewTarget,
  fetchDiff,
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
    this._base = options.base;
    this._head = options.head;
    this._onReviewChanged = options.onReviewChanged ?? (() => undefined);
    this._onWorkingCopyChanged =
      options.onWorkingCopyChanged ?? (() => undefined);
  }

  readonly path: string;

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
    const ticket = ++this._diffTicket;
    await this._track(async () => {
      try {
        const diff = await fetchDiff(
          this.path,
          this._base,
          this._head,
          this._filters
        );
        if (ticket === this._diffTicket) {
          this._diff = diff;
          this._diffError = null;
        }
      } catch (error) {
        if (ticket === this._diffTicket) {
          this._diff = null;
          this._diffError = describe(error);
        }
      }
    });
  }

  async loadReview(): Promise<void> {
    const ticket = ++this._reviewTicket;
    await this._track(async () => {
      try {
        const review = await fetchReview(this.path, this._base, this._head);
        if (ticket === this._reviewTicket) {
          this._review = review;
          this._reviewError = null;
        }
      } catch (error) {
        if (ticket === this._reviewTicket) {
          this._reviewError = describe(error);
        }
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
    let ok = false;
    await this._track(async () => {
      try {
        await call();
        ok = true;
      } catch (error) {
        this._reviewError = describe(error);
      }
    });
    if (ok) {
      this._onReviewChanged(this.path);
      await this.loadReview();
    }
    return ok;
  }

  private async _track(work: () => Promise<void>): Promise<void> {
    this._loading++;
    this._changed.emit();
    try {
      await work();
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
  private _diffTicket = 0;
  private _reviewTicket = 0;
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
    /** Called after a comment, reply, resolve, apply or verdict was saved. */
    onReviewChanged?: (path: string) => void;
    /** Called after a suggestion was applied to the notebook's file. */
    onWorkingCopyChanged?: (path: string) => void;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
