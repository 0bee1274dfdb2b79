import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/**
 * A failed call to `/mlops/api`: the HTTP status (0 when the server could not be
 * reached) and the server's `{"message": ...}`, or a description of what went wrong.
 */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

/**
 * Call `<base_url>/mlops/api/<endPoint>` and return its JSON.
 *
 * `ServerConnection.makeRequest` adds the token and the XSRF header, so every
 * call to the server extension goes through here.
 *
 * @throws {RequestError} on a network failure, an error status or a non-JSON reply.
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'mlops', 'api', endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new RequestError(
      0,
      `Could not reach the Jupyter server: ${describe(error)}`
    );
  }
  const text = await response.text();
  let data: unknown = undefined;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // not JSON: an HTML error page from a proxy or a server without the extension
    }
  }
  if (!response.ok) {
    const message =
      serverMessage(data) ??
      `${response.status} ${response.statusText || 'error'}`.trim();
    throw new RequestError(response.status, message);
  }
  if (data === undefined) {
    throw new RequestError(
      response.status,
      `The server answered ${url} with something other than JSON.`
    );
  }
  return data as T;
}

/**
 * The endpoint of a route that names its project by folder:
 * `PART/PART…?path=FOLDER[&KEY=VALUE…]`, each part URL-encoded (a deployment's name,
 * say); no `path` for the server root.
 */
export function projectRoute(
  parts: string[],
  folder: string,
  query: Record<string, string> = {}
): string {
  const params = new URLSearchParams(query);
  if (folder) {
    params.set('path', folder);
  }
  const path = parts.map(encodeURIComponent).join('/');
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

function serverMessage(data: unknown): string | null {
  if (typeof data === 'object' && data !== null && 'message' in data) {
    const message = (data as { message: unknown }).message;
    if (typeof message === 'string' && message.length > 0) {
      return message;
    }
  }
  return null;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
