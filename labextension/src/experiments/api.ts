import { requestAPI } from '../handler';
import {
  IArtifact,
  IComparison,
  IRegistration,
  IRunDetail,
  IRunsPage,
  ISweepDetail,
  SortOrder
} from './tokens';

/** `?path=FOLDER&…` with the empty values left out. */
function query(params: Record<string, string | number | null>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== null && v !== '')
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

export interface IRunsQuery {
  folder: string;
  /** the notebook's path relative to the server root; null: the whole experiment */
  notebook: string | null;
  offset: number;
  limit: number;
  sort: string;
  order: SortOrder;
}

export function fetchRuns(q: IRunsQuery): Promise<IRunsPage> {
  return requestAPI<IRunsPage>(
    'runs' +
      query({
        path: q.folder,
        notebook: q.notebook,
        offset: q.offset,
        limit: q.limit,
        sort: q.sort,
        order: q.order
      })
  );
}

export function fetchRun(folder: string, runId: string): Promise<IRunDetail> {
  return requestAPI<IRunDetail>(
    `runs/${encodeURIComponent(runId)}` + query({ path: folder })
  );
}

export async function fetchArtifacts(
  folder: string,
  runId: string,
  dir: string
): Promise<IArtifact[]> {
  const reply = await requestAPI<{ artifacts: IArtifact[] }>(
    `runs/${encodeURIComponent(runId)}/artifacts` + query({ path: folder, dir })
  );
  return reply.artifacts;
}

export function fetchComparison(
  folder: string,
  runIds: string[]
): Promise<IComparison> {
  return requestAPI<IComparison>(
    'runs/compare' + query({ path: folder, ids: runIds.join(',') })
  );
}

export function registerModel(
  folder: string,
  runId: string,
  body: { model?: string; name?: string; alias?: string }
): Promise<IRegistration> {
  return requestAPI<IRegistration>(
    `runs/${encodeURIComponent(runId)}/register` + query({ path: folder }),
    { method: 'POST', body: JSON.stringify(body) }
  );
}

/** A sweep (its parent run's id): its trials, the best one, its charts. */
export function fetchSweep(
  folder: string,
  runId: string
): Promise<ISweepDetail> {
  return requestAPI<ISweepDetail>(
    `sweeps/${encodeURIComponent(runId)}` + query({ path: folder })
  );
}
