import { requestAPI } from '../handler';
import {
  IChangesReply,
  ICommentAnchor,
  IDiffFilters,
  IDiffReply,
  IReview,
  IReviewReply,
  IThread,
  IThreadReply,
  Revision
} from './tokens';

/**
 * The Review capability's REST calls. Each returns the server's answer or throws a
 * `RequestError` carrying its one-line message.
 */

/** The notebooks changed in the working tree under `folder`, and the reviews there. */
export function fetchChanges(folder: string): Promise<IChangesReply> {
  return requestAPI<IChangesReply>(`review/changes?${query({ path: folder })}`);
}

/** The cell-aware diff of `path` between `base` and `head`. */
export function fetchDiff(
  path: string,
  base: Revision,
  head: Revision,
  filters: IDiffFilters
): Promise<IDiffReply> {
  return requestAPI<IDiffReply>(
    `review/diff?${query({
      path,
      base,
      head,
      outputs: flag(filters.outputs),
      metadata: flag(filters.metadata),
      execution_counts: flag(filters.execution_counts),
      attachments: '1'
    })}`
  );
}

/** The review of `path` between `base` and `head`, with its threads. */
export async function fetchReview(
  path: string,
  base: Revision,
  head: Revision
): Promise<IReview> {
  const reply = await requestAPI<IReviewReply>(
    `review?${query({ path, base, head })}`
  );
  return reply.review;
}

/** Start a thread on a cell (a line range or an output of it). */
export async function postComment(
  path: string,
  base: Revision,
  head: Revision,
  anchor: ICommentAnchor,
  text: string,
  suggestion: string | null
): Promise<IThread> {
  const body: Record<string, unknown> = { path, base, head, ...anchor, text };
  if (suggestion !== null) {
    body.suggestion = suggestion;
  }
  return (await post<IThreadReply>('review/comments', body)).thread;
}

/** The review a thread belongs to: its notebook and revisions. */
export interface IReviewTarget {
  path: string;
  base: Revision;
  head: Revision;
}

export function postReply(
  target: IReviewTarget,
  threadId: string,
  text: string
): Promise<IThread> {
  return threadAction(target, threadId, 'replies', { text });
}

export function postResolve(
  target: IReviewTarget,
  threadId: string,
  resolved: boolean
): Promise<IThread> {
  return threadAction(target, threadId, 'resolve', { resolved });
}

/** Apply a comment's suggestion to the working copy of the notebook. */
export function postApply(
  target: IReviewTarget,
  threadId: string,
  commentId: string
): Promise<IThread> {
  return threadAction(target, threadId, 'apply', { comment_id: commentId });
}

async function threadAction(
  target: IReviewTarget,
  threadId: string,
  action: 'replies' | 'resolve' | 'apply',
  fields: Record<string, unknown>
): Promise<IThread> {
  const endPoint = `review/threads/${encode(threadId)}/${action}`;
  return (await post<IThreadReply>(endPoint, { ...target, ...fields })).thread;
}

/** Approve, or request changes (`text` required then). */
export async function postVerdict(
  verdict: 'approve' | 'request-changes',
  path: string,
  base: Revision,
  head: Revision,
  text: string
): Promise<IReview> {
  const body: Record<string, unknown> = { path, base, head };
  if (text.length > 0) {
    body.text = text;
  }
  return (await post<IReviewReply>(`review/${verdict}`, body)).review;
}

function post<T>(endPoint: string, body: Record<string, unknown>): Promise<T> {
  return requestAPI<T>(endPoint, {
    method: 'POST',
    body: JSON.stringify(body)
  });
}

function query(values: Record<string, string>): string {
  return new URLSearchParams(values).toString();
}

function flag(on: boolean): string {
  return on ? '1' : '0';
}

function encode(segment: string): string {
  return encodeURIComponent(segment);
}
