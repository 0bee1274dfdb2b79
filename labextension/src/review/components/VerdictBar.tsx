import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IReview, IReviewer, ReviewerState, ReviewState } from '../tokens';
import { formatTime } from './Threads';

export interface IVerdictBarProps {
  review: IReview | null;
  onVerdict: (
    verdict: 'approve' | 'request-changes',
    text: string
  ) => Promise<boolean>;
  /** Compare from the commit I last reviewed. */
  onSinceMyReview: (commit: string) => void;
  trans: TranslationBundle;
}

/** The review's state, each reviewer's, and the buttons to approve or request changes. */
export function VerdictBar(props: IVerdictBarProps): JSX.Element {
  const { review, trans } = props;
  const [text, setText] = React.useState('');
  const [busy, setBusy] = React.useState(false);
  const send = async (
    verdict: 'approve' | 'request-changes'
  ): Promise<void> => {
    setBusy(true);
    const ok = await props.onVerdict(verdict, text.trim());
    setBusy(false);
    if (ok) {
      setText('');
    }
  };
  const state = review?.state ?? 'open';
  const mine = review?.reviewers.find(reviewer => reviewer.user === review.me);
  const since =
    mine?.commit && review?.head_commit && mine.commit !== review.head_commit
      ? mine.commit
      : null;
  return (
    <div className="jp-mlops-review-verdict" data-state={state}>
      <div className="jp-mlops-review-verdictState">
        <ReviewStateBadge state={state} trans={trans} />
        {review && (
          <span className="jp-mlops-review-threadsCount">
            {threadsLabel(review.threads.length, review.open_threads, trans)}
          </span>
        )}
      </div>
      <ul className="jp-mlops-review-reviewers">
        {(review?.reviewers ?? []).map(reviewer => (
          <ReviewerItem
            key={reviewer.user}
            reviewer={reviewer}
            me={review?.me ?? null}
            headCommit={review?.head_commit ?? null}
            trans={trans}
          />
        ))}
        {review && review.reviewers.length === 0 && (
          <li className="jp-mlops-review-none">
            {trans.__('No one has reviewed this change yet.')}
          </li>
        )}
      </ul>
      {since && (
        <button
          type="button"
          className="jp-mlops-review-button jp-mlops-review-since"
          title={trans.__(
            'Compare from the commit you last reviewed (%1) to the head',
            since
          )}
          onClick={() => props.onSinceMyReview(since)}
        >
          {trans.__('Changes since your review (%1)', since.slice(0, 7))}
        </button>
      )}
      <form
        className="jp-mlops-review-verdictForm"
        onSubmit={event => {
          event.preventDefault();
          void send('approve');
        }}
      >
        <input
          type="text"
          className="jp-mlops-review-verdictText"
          value={text}
          placeholder={trans.__('Message (needed to request changes)')}
          onChange={event => setText(event.target.value)}
        />
        <button
          type="submit"
          className="jp-mlops-review-button jp-mod-accept"
          data-verdict="approve"
          disabled={busy || !review}
        >
          {trans.__('Approve')}
        </button>
        <button
          type="button"
          className="jp-mlops-review-button jp-mod-warn"
          data-verdict="request-changes"
          disabled={busy || !review || text.trim().length === 0}
          title={trans.__('Say what should change in the message first')}
          onClick={() => void send('request-changes')}
        >
          {trans.__('Request changes')}
        </button>
      </form>
    </div>
  );
}

export function ReviewStateBadge(props: {
  state: ReviewState;
  trans: TranslationBundle;
}): JSX.Element {
  const { state, trans } = props;
  const label =
    state === 'approved'
      ? trans.__('Approved')
      : state === 'changes_requested'
        ? trans.__('Changes requested')
        : trans.__('Open');
  return (
    <span className="jp-mlops-review-state" data-state={state}>
      {label}
    </span>
  );
}

/** "3 threads, 1 open" */
export function threadsLabel(
  threads: number,
  open: number,
  trans: TranslationBundle
): string {
  if (threads === 0) {
    return trans.__('no threads');
  }
  return trans._n('%1 thread, %2 open', '%1 threads, %2 open', threads, open);
}

export function reviewerStateLabel(
  state: ReviewerState,
  trans: TranslationBundle
): string {
  switch (state) {
    case 'approved':
      return trans.__('approved');
    case 'changes_requested':
      return trans.__('requested changes');
    default:
      return trans.__('commented');
  }
}

function ReviewerItem(props: {
  reviewer: IReviewer;
  me: string | null;
  headCommit: string | null;
  trans: TranslationBundle;
}): JSX.Element {
  const { reviewer, me, headCommit, trans } = props;
  const older =
    reviewer.commit !== null &&
    headCommit !== null &&
    reviewer.commit !== headCommit;
  return (
    <li
      className="jp-mlops-review-reviewer"
      data-user={reviewer.user}
      data-state={reviewer.state}
      title={formatTime(reviewer.at)}
    >
      <span className="jp-mlops-review-author">
        {reviewer.user === me
          ? trans.__('%1 (you)', reviewer.user)
          : reviewer.user}
      </span>{' '}
      <span className="jp-mlops-review-reviewerState">
        {reviewerStateLabel(reviewer.state, trans)}
      </span>
      {reviewer.commit !== null && (
        <span
          className="jp-mlops-review-commit"
          data-older={older ? 'true' : undefined}
          title={
            older
              ? trans.__('Given on an older commit; the change moved on since.')
              : trans.__('Given on this commit.')
          }
        >
          {reviewer.commit.slice(0, 7)}
        </span>
      )}
    </li>
  );
}
