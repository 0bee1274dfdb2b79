import { PathExt, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { RequestError, requestAPI } from '../handler';
import { IConflictsReply, IResolution, IResolveReply } from './merge/tokens';
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
    `review/diff?${query({ path, base, head, ...filterQuery(filters) })}`
  );
}

/** The cell-aware diff of two notebook files (`head` is the newer one). */
export function fetchDiffFiles(
  base: string,
  head: string,
  filters: IDiffFilters
): Promise<IDiffReply> {
  return requestAPI<IDiffReply>(
    `review/diff-files?${query({ base, head, ...filterQuery(filters) })}`
  );
}

function filterQuery(filters: IDiffFilters): Record<string, string> {
  return {
    outputs: flag(filters.outputs),
    metadata: flag(filters.metadata),
    execution_counts: flag(filters.execution_counts),
    attachments: '1'
  };
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

/** The merge conflicts recorded in a notebook's cells. */
export function fetchConflicts(path: string): Promise<IConflictsReply> {
  return requestAPI<IConflictsReply>(`review/conflicts?${query({ path })}`);
}

/** Resolve conflicts and write the notebook; `stage`: `git add` it once none is left. */
export function postConflictResolutions(
  path: string,
  resolutions: IResolution[],
  stage: boolean
): Promise<IResolveReply> {
  return post<IResolveReply>('review/conflicts/resolve', {
    path,
    resolutions,
    stage
  });
}

/**
 * Download the review of `path` between `base` and `head` as one static HTML file.
 * Fetched through the server connection (token and XSRF in headers, never in a URL),
 * then handed to the browser as a file; resolves to the file's name.
 */
export async function downloadExport(
  path: string,
  base: Revision,
  head: Revision,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<string> {
  const url = URLExt.join(
    settings.baseUrl,
    'mlops',
    'api',
    `review/export?${query({ path, base, head })}`
  );
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, {}, settings);
  } catch (error) {
    throw new RequestError(
      0,
      `Could not reach the Jupyter server: ${error instanceof Error ? error.message : String(error)}`
    );
  }
  if (!response.ok) {
    throw new RequestError(response.status, await errorLine(response));
  }
  const name =
    attachmentName(response.headers.get('Content-Disposition')) ??
    `${PathExt.basename(path, '.ipynb')}.review.html`;
  const blob = await response.blob();
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.style.display = 'none';
  document.body.appendChild(link);
  link.click();
  link.remove();
  // the browser has taken the file once the click is handled
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  return name;
}

/** The server's `{"message": …}` of a failed call, or its status. */
async function errorLine(response: Response): Promise<string> {
  try {
    const data = await response.json();
    if (typeof data?.message === 'string' && data.message.length > 0) {
      return data.message;
    }
  } catch {
    // not JSON
  }
  return `${response.status} ${response.statusText || 'error'}`.trim();
}

/** The file name of `Content-Disposition: attachment; filename="…"`. */
export function attachmentName(header: string | null): string | null {
  const match = header?.match(/filename\*?=(?:UTF-8'')?"?([^";]+)"?/i);
  if (!match) {
    return null;
  }
  try {
    return decodeURIComponent(match[1]).replace(/[\\/]/g, '_');
  } catch {
    return match[1].replace(/[\\/]/g, '_');
  }
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
