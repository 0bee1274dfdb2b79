import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IComment, IThread } from '../tokens';

export interface ICommentEditorProps {
  /** What the comment is on, in words ("line 4"). */
  anchor: string;
  /** The cell's source, offered as the start of a suggestion; null: no suggestion. */
  source: string | null;
  onSubmit: (text: string, suggestion: string | null) => Promise<boolean>;
  onCancel: () => void;
  trans: TranslationBundle;
}

/** A small editor for a new comment, with an optional suggested source for the cell. */
export function CommentEditor(props: ICommentEditorProps): JSX.Element {
  const { anchor, source, trans } = props;
  const [text, setText] = React.useState('');
  const [suggesting, setSuggesting] = React.useState(false);
  const [suggestion, setSuggestion] = React.useState(source ?? '');
  const [busy, setBusy] = React.useState(false);
  const submit = async (): Promise<void> => {
    setBusy(true);
    const ok = await props.onSubmit(
      text.trim(),
      suggesting ? suggestion : null
    );
    setBusy(false);
    if (ok) {
      props.onCancel();
    }
  };
  return (
    <form
      className="jp-mlops-review-editor"
      onSubmit={event => {
        event.preventDefault();
        void submit();
      }}
    >
      <div className="jp-mlops-review-editorAnchor">
        {trans.__('Comment on %1', anchor)}
      </div>
      <textarea
        className="jp-mlops-review-editorText"
        autoFocus
        rows={3}
        value={text}
        placeholder={trans.__('Leave a comment')}
        onChange={event => setText(event.target.value)}
        onKeyDown={event => {
          if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
            event.preventDefault();
            if (text.trim().length > 0) {
              void submit();
            }
          } else if (event.key === 'Escape') {
            props.onCancel();
          }
        }}
      />
      {source !== null && (
        <label className="jp-mlops-review-editorToggle">
          <input
            type="checkbox"
            checked={suggesting}
            onChange={event => setSuggesting(event.target.checked)}
          />
          {trans.__('Suggest a new source for the cell')}
        </label>
      )}
      {suggesting && (
        <textarea
          className="jp-mlops-review-editorSuggestion"
          rows={Math.min(12, Math.max(3, suggestion.split('\n').length))}
          value={suggestion}
          aria-label={trans.__('Suggested source')}
          onChange={event => setSuggestion(event.target.value)}
        />
      )}
      <div className="jp-mlops-review-editorButtons">
        <button
          type="button"
          className="jp-mlops-review-button"
          onClick={props.onCancel}
        >
          {trans.__('Cancel')}
        </button>
        <button
          type="submit"
          className="jp-mlops-review-button jp-mod-accept"
          disabled={busy || text.trim().length === 0}
        >
          {trans.__('Comment')}
        </button>
      </div>
    </form>
  );
}

export interface IThreadViewProps {
  thread: IThread;
  /** Where in the cell the thread is ("line 4", "output 1", "the cell"). */
  anchor: string;
  onReply: (text: string) => Promise<boolean>;
  onResolve: (resolved: boolean) => Promise<boolean>;
  onApply: (comment: IComment) => Promise<boolean>;
  trans: TranslationBundle;
}

/** A thread: its comments (suggestions with "apply"), a reply box, resolve / reopen. */
export function ThreadView(props: IThreadViewProps): JSX.Element {
  const { thread, anchor, trans } = props;
  const [reply, setReply] = React.useState('');
  const [busy, setBusy] = React.useState(false);
  const [open, setOpen] = React.useState(thread.status === 'open');
  React.useEffect(() => setOpen(thread.status === 'open'), [thread.status]);
  const run = async (action: () => Promise<boolean>): Promise<boolean> => {
    setBusy(true);
    const ok = await action();
    setBusy(false);
    return ok;
  };
  const first = thread.comments[0];
  return (
    <div
      className="jp-mlops-review-thread"
      data-thread-id={thread.id}
      data-status={thread.status}
      data-outdated={thread.outdated ? 'true' : 'false'}
    >
      <div
        className="jp-mlops-review-threadHeader"
        onClick={() => setOpen(!open)}
      >
        <span className="jp-mlops-review-threadAnchor">{anchor}</span>
        {thread.outdated && (
          <span
            className="jp-mlops-review-badge"
            data-kind="outdated"
            title={trans.__(
              'The lines this thread was written on changed since.'
            )}
          >
            {trans.__('outdated')}
          </span>
        )}
        {thread.status === 'resolved' && (
          <span className="jp-mlops-review-badge" data-kind="resolved">
            {trans.__('resolved')}
          </span>
        )}
        {!open && first && (
          <span className="jp-mlops-review-threadPreview">
            {first.author}: {first.text}
          </span>
        )}
        <span className="jp-mlops-review-threadCount">
          {trans._n('%1 comment', '%1 comments', thread.comments.length)}
        </span>
      </div>
      {open && (
        <>
          {thread.comments.map(comment => (
            <CommentView
              key={comment.id}
              comment={comment}
              busy={busy}
              onApply={() => run(() => props.onApply(comment))}
              trans={trans}
            />
          ))}
          <form
            className="jp-mlops-review-replyBox"
            onSubmit={event => {
              event.preventDefault();
              void run(() => props.onReply(reply.trim())).then(ok => {
                if (ok) {
                  setReply('');
                }
              });
            }}
          >
            <input
              type="text"
              className="jp-mlops-review-replyText"
              value={reply}
              placeholder={trans.__('Reply')}
              onChange={event => setReply(event.target.value)}
            />
            <button
              type="submit"
              className="jp-mlops-review-button"
              disabled={busy || reply.trim().length === 0}
            >
              {trans.__('Reply')}
            </button>
            <button
              type="button"
              className="jp-mlops-review-button"
              disabled={busy}
              onClick={() =>
                void run(() => props.onResolve(thread.status === 'open'))
              }
            >
              {thread.status === 'open'
                ? trans.__('Resolve')
                : trans.__('Reopen')}
            </button>
          </form>
        </>
      )}
    </div>
  );
}

function CommentView(props: {
  comment: IComment;
  busy: boolean;
  onApply: () => Promise<boolean>;
  trans: TranslationBundle;
}): JSX.Element {
  const { comment, trans } = props;
  return (
    <div className="jp-mlops-review-comment" data-comment-id={comment.id}>
      <div className="jp-mlops-review-commentMeta">
        <span className="jp-mlops-review-author">{comment.author}</span>
        <time dateTime={comment.created_at} title={comment.created_at}>
          {formatTime(comment.created_at)}
        </time>
      </div>
      <div className="jp-mlops-review-commentText">{comment.text}</div>
      {comment.suggestion !== null && (
        <div className="jp-mlops-review-suggestion">
          <div className="jp-mlops-review-suggestionBar">
            <span>{trans.__('Suggested source')}</span>
            <button
              type="button"
              className="jp-mlops-review-button"
              disabled={props.busy || comment.applied}
              title={trans.__(
                "Replace the cell's source in the working copy with this suggestion"
              )}
              onClick={() => void props.onApply()}
            >
              {comment.applied
                ? trans.__('Applied')
                : trans.__('Apply suggestion')}
            </button>
          </div>
          <pre>{comment.suggestion}</pre>
        </div>
      )}
    </div>
  );
}

/** An ISO time as the browser's locale writes a date and time. */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
