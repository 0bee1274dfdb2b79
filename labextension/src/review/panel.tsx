import { PathExt } from '@jupyterlab/coreutils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import {
  downloadIcon,
  ReactWidget,
  refreshIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { ChangesModel } from './changes';
import {
  ChangeStatus,
  IChangedNotebook,
  IReviewSummary,
  Revision
} from './tokens';
import {
  ReviewStateBadge,
  reviewerStateLabel,
  threadsLabel
} from './components/VerdictBar';

/** What the panel asks of whoever opens diff views. */
export type OpenReview = (
  path: string,
  base?: Revision,
  head?: Revision
) => void;

/** What the panel asks of whoever opens Merge views and exports reviews. */
export interface IReviewActions {
  /** Open the Merge view of a notebook with merge conflicts. */
  merge: (path: string) => void;
  /** Download a review as one static HTML file. */
  exportHtml: (path: string, base: Revision, head: Revision) => void;
}

/**
 * The Review panel of the sidebar: the changed notebooks of the working tree and the
 * reviews, each opening its diff view; "Review this notebook" for the one in use.
 */
export class ReviewPanel extends ReactWidget {
  constructor(options: ReviewPanel.IOptions) {
    super();
    this._model = options.model;
    this._notebooks = options.notebooks;
    this._open = options.open;
    this._actions = { merge: options.merge, exportHtml: options.exportHtml };
    this._trans = options.trans;
    this.addClass('jp-mlops-review-panel');
    this._model.changed.connect(this._onChanged, this);
    this._notebooks?.currentChanged.connect(this._onChanged, this);
  }

  render(): JSX.Element {
    const current = this._notebooks?.currentWidget?.context.path ?? null;
    return (
      <ReviewPanelView
        model={this._model}
        current={current}
        open={this._open}
        actions={this._actions}
        trans={this._trans}
      />
    );
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model.changed.disconnect(this._onChanged, this);
    this._notebooks?.currentChanged.disconnect(this._onChanged, this);
    this._model.dispose();
    super.dispose();
  }

  private _onChanged(): void {
    this.update();
  }

  private readonly _model: ChangesModel;
  private readonly _notebooks: INotebookTracker | null;
  private readonly _open: OpenReview;
  private readonly _actions: IReviewActions;
  private readonly _trans: TranslationBundle;
}

export namespace ReviewPanel {
  export interface IOptions extends IReviewActions {
    model: ChangesModel;
    notebooks: INotebookTracker | null;
    open: OpenReview;
    trans: TranslationBundle;
  }
}

function ReviewPanelView(props: {
  model: ChangesModel;
  current: string | null;
  open: OpenReview;
  actions: IReviewActions;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, current, open, actions, trans } = props;
  const reply = model.reply;
  return (
    <div className="jp-mlops-review-sidebar">
      <div className="jp-mlops-review-sidebarBar">
        <button
          type="button"
          className="jp-mlops-review-button jp-mlops-review-reviewCurrent"
          disabled={current === null}
          title={
            current
              ? trans.__('Open the diff of %1 against HEAD', current)
              : trans.__('Open a notebook to review its changes')
          }
          onClick={() => current && open(current)}
        >
          {trans.__('Review this notebook')}
        </button>
        <button
          type="button"
          className="jp-mlops-review-iconButton jp-mlops-review-refreshChanges"
          disabled={model.isLoading}
          title={trans.__('Look for changed notebooks and reviews again')}
          aria-label={trans.__('Refresh changes')}
          onClick={() => void model.refresh()}
        >
          <refreshIcon.react tag="span" />
        </button>
      </div>
      {model.error && (
        <div className="jp-mlops-review-error" role="alert">
          {model.error}
        </div>
      )}
      {!reply && !model.error && (
        <div className="jp-mlops-review-none">
          {trans.__('Looking for changes…')}
        </div>
      )}
      {reply && !reply.git && (
        <div className="jp-mlops-review-note">
          {trans.__(
            'Not a git repository: notebooks are compared with their last checkpoint.'
          )}
        </div>
      )}
      {reply && (
        <>
          <h4 className="jp-mlops-review-heading">
            {trans.__('Changed notebooks (%1)', reply.notebooks.length)}
          </h4>
          {reply.notebooks.length === 0 ? (
            <div className="jp-mlops-review-none">
              {trans.__('No notebook changed since the last commit.')}
            </div>
          ) : (
            <ul className="jp-mlops-review-list" data-list="changes">
              {reply.notebooks.map(notebook => (
                <ChangedItem
                  key={notebook.path}
                  notebook={notebook}
                  open={open}
                  merge={actions.merge}
                  trans={trans}
                />
              ))}
            </ul>
          )}
          <h4 className="jp-mlops-review-heading">
            {trans.__('Reviews (%1)', reply.reviews.length)}
          </h4>
          {reply.unreadable.length > 0 && (
            <div className="jp-mlops-review-error jp-mlops-review-unreadable">
              {trans._n(
                '%1 review event unreadable: %2',
                '%1 review events unreadable: %2',
                reply.unreadable.length,
                reply.unreadable.join(', ')
              )}
            </div>
          )}
          {reply.reviews.length === 0 ? (
            <div className="jp-mlops-review-none">
              {trans.__('No reviews yet: open a diff and comment or approve.')}
            </div>
          ) : (
            <ul className="jp-mlops-review-list" data-list="reviews">
              {reply.reviews.map(review => (
                <ReviewItem
                  key={`${review.path}|${review.base}|${review.head}`}
                  review={review}
                  open={open}
                  exportHtml={actions.exportHtml}
                  trans={trans}
                />
              ))}
            </ul>
          )}
        </>
      )}
    </div>
  );
}

const STATUS_MARKS: Record<ChangeStatus, string> = {
  modified: 'M',
  added: 'A',
  deleted: 'D',
  renamed: 'R',
  untracked: 'U',
  conflicted: 'C'
};

function changeLabel(status: ChangeStatus, trans: TranslationBundle): string {
  switch (status) {
    case 'modified':
      return trans.__('modified');
    case 'added':
      return trans.__('added');
    case 'deleted':
      return trans.__('deleted');
    case 'renamed':
      return trans.__('renamed');
    case 'untracked':
      return trans.__('untracked');
    case 'conflicted':
      return trans.__('merge conflict');
  }
}

function ChangedItem(props: {
  notebook: IChangedNotebook;
  open: OpenReview;
  merge: (path: string) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { notebook, open, trans } = props;
  const status = changeLabel(notebook.status, trans);
  const conflicted = notebook.status === 'conflicted';
  return (
    <li className="jp-mlops-review-itemRow">
      <button
        type="button"
        className="jp-mlops-review-item"
        data-path={notebook.path}
        data-status={notebook.status}
        title={
          notebook.old_path
            ? trans.__(
                '%1 (%2 from %3)',
                notebook.path,
                status,
                notebook.old_path
              )
            : trans.__('%1 (%2)', notebook.path, status)
        }
        onClick={() => open(notebook.path)}
      >
        <span
          className="jp-mlops-review-mark"
          data-status={notebook.status}
          aria-label={status}
        >
          {STATUS_MARKS[notebook.status]}
        </span>
        <span className="jp-mlops-review-itemName">
          {PathExt.basename(notebook.path)}
        </span>
        <span className="jp-mlops-review-itemFolder">
          {PathExt.dirname(notebook.path)}
        </span>
      </button>
      {conflicted && (
        <button
          type="button"
          className="jp-mlops-review-button jp-mlops-review-merge"
          data-merge={notebook.path}
          title={trans.__(
            'Resolve the merge conflicts of %1 cell by cell',
            notebook.path
          )}
          onClick={() => props.merge(notebook.path)}
        >
          {trans.__('Merge…')}
        </button>
      )}
    </li>
  );
}

function ReviewItem(props: {
  review: IReviewSummary;
  open: OpenReview;
  exportHtml: (path: string, base: Revision, head: Revision) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { review, open, trans } = props;
  return (
    <li className="jp-mlops-review-itemRow">
      <button
        type="button"
        className="jp-mlops-review-item jp-mlops-review-reviewItem"
        data-path={review.path}
        data-state={review.state}
        title={trans.__('%1: %2 → %3', review.path, review.base, review.head)}
        onClick={() => open(review.path, review.base, review.head)}
      >
        <span className="jp-mlops-review-itemLine">
          <span className="jp-mlops-review-itemName">
            {PathExt.basename(review.path)}
          </span>
          <ReviewStateBadge state={review.state} trans={trans} />
        </span>
        <span className="jp-mlops-review-itemLine jp-mlops-review-itemDetail">
          <span>{trans.__('%1 → %2', review.base, review.head)}</span>
          <span>
            {threadsLabel(review.threads, review.open_threads, trans)}
          </span>
        </span>
        {review.error !== undefined && (
          <span className="jp-mlops-review-error jp-mlops-review-itemError">
            {review.error}
          </span>
        )}
        {review.reviewers.length > 0 && (
          <span className="jp-mlops-review-itemReviewers">
            {review.reviewers.map(reviewer => (
              <span
                key={reviewer.user}
                className="jp-mlops-review-reviewerChip"
                data-state={reviewer.state}
              >
                {trans.__(
                  '%1 %2',
                  reviewer.user,
                  reviewerStateLabel(reviewer.state, trans)
                )}
              </span>
            ))}
          </span>
        )}
      </button>
      <button
        type="button"
        className="jp-mlops-review-iconButton jp-mlops-review-exportItem"
        data-export={review.path}
        title={trans.__(
          'Export this review as one HTML file, readable without Jupyter'
        )}
        aria-label={trans.__('Export HTML')}
        onClick={() => props.exportHtml(review.path, review.base, review.head)}
      >
        <downloadIcon.react tag="span" />
      </button>
    </li>
  );
}
