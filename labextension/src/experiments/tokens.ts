/**
 * Shapes of the `/mlops/api/runs` replies (see `jupyter_mlops/server/tracking.py`).
 */

import { JSONObject } from '@lumino/coreutils';

/** The Deploy panel's command; absent when that panel is not loaded. */
export const DEPLOY_MODEL_COMMAND = 'mlops:deploy-model';

/** A model a run logged. */
export interface IRunModel {
  name: string;
  /** `models:/<model id>` (MLflow 3 logged model). */
  uri: string;
  /** `pytorch`, `sklearn`, `pyfunc`, or empty for a model logged through MLflow. */
  flavor: string;
}

/** One run as listings show it. */
export interface IRun {
  run_id: string;
  run_name: string | null;
  /** RUNNING, FINISHED, FAILED, KILLED, SCHEDULED */
  status: string;
  experiment_id: string;
  experiment: string | null;
  /** ms since the epoch */
  start_time: number | null;
  end_time: number | null;
  /** seconds; to now while RUNNING */
  duration: number | null;
  params: Record<string, string>;
  /** latest value of each metric (null: not a finite number) */
  metrics: Record<string, number | null>;
  models: IRunModel[];
  notebook: string | null;
  user: string | null;
  git_commit: string | null;
  error: string | null;
  /** the run in MLflow's UI, for a tracking server */
  url: string | null;
}

/** `GET runs`. */
export interface IRunsPage {
  runs: IRun[];
  total: number;
  offset: number;
  limit: number;
  sort: string;
  order: SortOrder;
  truncated: boolean;
  experiment: string | null;
  notebook: string | null;
  tracking_uri: string;
  active: boolean;
  param_keys: string[];
  metric_keys: string[];
  /** each listed sweep by its parent run's id (its trials are not listed) */
  sweeps?: Record<string, ISweepSummary>;
}

export type SortOrder = 'asc' | 'desc';

/** An artifact directly under a folder of a run. */
export interface IArtifact {
  path: string;
  is_dir: boolean;
  size: number | null;
}

/** `GET runs/ID`. */
export interface IRunDetail extends IRun {
  tags: Record<string, string>;
  artifacts: IArtifact[];
  artifact_uri: string;
}

/** `GET runs/compare`. */
export interface IComparison {
  runs: IRun[];
  labels: Record<string, string>;
  params: {
    key: string;
    values: Record<string, string | null>;
    differs: boolean;
  }[];
  metrics: { key: string; values: Record<string, number | null> }[];
  /** run id -> metric -> [step, value, timestamp] */
  histories: Record<string, Record<string, [number, number, number][]>>;
  /** a Vega-Lite v5 spec of the histories */
  spec: Record<string, unknown>;
}

/** `POST runs/ID/register`. */
export interface IRegistration {
  name: string;
  version: string;
  source: string;
  run_id: string;
  alias: string | null;
  uri: string;
}

/** A trial's state, in Optuna's words. */
export type TrialState = 'running' | 'complete' | 'pruned' | 'fail';

/** A sweep's line in `GET runs` (`sweeps`). */
export interface ISweepSummary {
  study: string | null;
  metric: string;
  direction: 'minimize' | 'maximize';
  /** the trials asked for (null: not known) */
  planned: number | null;
  trials: number;
  counts: Record<TrialState, number>;
  best_value: number | null;
  best_run_id: string | null;
}

/** One trial of a sweep (`GET sweeps/ID`). */
export interface ISweepTrial {
  number: number | null;
  run_id: string;
  run_name: string | null;
  state: TrialState;
  status: string;
  value: number | null;
  params: Record<string, string>;
  duration: number | null;
  models: IRunModel[];
  error: string | null;
  url: string | null;
}

/** `GET sweeps/ID`: the sweep's parent run, its trials, the best one, its charts. */
export interface ISweepDetail {
  run: IRun;
  summary: ISweepSummary;
  /** the swept parameters, in the space's order */
  param_names: string[];
  /** by number; at most 1000 (`truncated` beyond) */
  trials: ISweepTrial[];
  truncated: boolean;
  active: boolean;
  best: {
    run_id: string;
    number: number | null;
    value: number | null;
    params: Record<string, string>;
    models: IRunModel[];
  } | null;
  /** Vega-Lite v5 specs */
  charts: { history: JSONObject; parallel: JSONObject };
}

/** What the panel lists: the open notebook's runs, or the whole experiment's. */
export type RunsScope = 'notebook' | 'experiment';
