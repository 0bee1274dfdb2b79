import { requestAPI } from '../handler';
import {
  ExportTarget,
  IExportResult,
  IPipelineDag,
  IPipelineRun,
  IRunList,
  IRunRequest,
  IStepLog
} from './types';

/** The calls the Pipeline panel makes; notebook paths are relative to the server root. */

function query(path: string): string {
  return `?path=${encodeURIComponent(path)}`;
}

function post(body: unknown): RequestInit {
  return { method: 'POST', body: JSON.stringify(body) };
}

/** The DAG of the notebook as the editor holds it (saved or not). */
export function fetchDag(
  path: string,
  content: unknown
): Promise<IPipelineDag> {
  return requestAPI<IPipelineDag>('pipeline', post({ path, content }));
}

export function listRuns(path: string): Promise<IRunList> {
  return requestAPI<IRunList>(`pipeline/runs${query(path)}`);
}

/** Starts a run of the saved notebook (the server answers 202 at once). */
export function startRun(
  path: string,
  request: IRunRequest
): Promise<IPipelineRun> {
  return requestAPI<IPipelineRun>('pipeline/runs', post({ path, ...request }));
}

export function fetchRun(path: string, runId: string): Promise<IPipelineRun> {
  return requestAPI<IPipelineRun>(
    `pipeline/runs/${encodeURIComponent(runId)}${query(path)}`
  );
}

export function stopRun(path: string, runId: string): Promise<IPipelineRun> {
  return requestAPI<IPipelineRun>(
    `pipeline/runs/${encodeURIComponent(runId)}${query(path)}`,
    { method: 'DELETE' }
  );
}

export function fetchStepLog(
  path: string,
  runId: string,
  step: string
): Promise<IStepLog> {
  return requestAPI<IStepLog>(
    `pipeline/runs/${encodeURIComponent(runId)}/logs/${encodeURIComponent(step)}${query(path)}`
  );
}

export function exportPipeline(
  path: string,
  target: ExportTarget,
  outDir: string,
  schedule: string
): Promise<IExportResult> {
  return requestAPI<IExportResult>(
    'pipeline/export',
    post({ path, target, out_dir: outDir, schedule: schedule || null })
  );
}
