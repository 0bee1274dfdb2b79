import { requestAPI } from '../handler';
import { IViewQuery, IViewReply, IViewStats, IViewsReply } from './tokens';

/**
 * The Features REST routes. `folder` (relative to the server root) names the
 * project whose configuration applies, as for `GET status`.
 */

/** `features/views`: views matching the text and filters, newest publish first. */
export function searchViews(
  folder: string,
  query: IViewQuery = {}
): Promise<IViewsReply> {
  return requestAPI<IViewsReply>(
    `features/views${queryString({ ...query, path: folder })}`
  );
}

/** `features/views/NAME`: one view in full; the latest version unless one is given. */
export function getView(
  folder: string,
  name: string,
  version: number | null = null
): Promise<IViewReply> {
  return requestAPI<IViewReply>(
    `features/views/${encodeURIComponent(name)}${queryString({
      version: version ?? undefined,
      path: folder
    })}`
  );
}

/** `features/views/NAME/stats`: rows, nulls, min/max/mean and distinct counts per column. */
export function getViewStats(
  folder: string,
  name: string,
  version: number
): Promise<IViewStats> {
  return requestAPI<IViewStats>(
    `features/views/${encodeURIComponent(name)}/stats${queryString({
      version,
      path: folder
    })}`
  );
}

/** `?a=1&b=2` of the parameters that are set (empty strings left out). */
function queryString(
  params: Record<string, string | number | undefined>
): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') {
      search.set(key, String(value));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
