/**
 * Shapes of the `/mlops/api/monitor/…` replies (see `jupyter_mlops/monitor/routes.py`),
 * and the command other panels use to show a deployment here.
 */

/** Show a deployment in the Monitor panel: args `IMonitorDeploymentArgs`. */
export const MONITOR_DEPLOYMENT_COMMAND = 'mlops:monitor-deployment';

/** What `mlops:monitor-deployment` takes (the Deploy panel's Monitor link calls it). */
export interface IMonitorDeploymentArgs {
  /** The deployment's name. */
  name: string;
}

/** One deployment as `GET monitor/deployments` lists it. */
export interface IMonitoredDeployment {
  name: string;
  target: string;
  status: string;
  version: number | string | null;
  device: string | null;
  url: string | null;
}

/** `GET monitor/deployments?path=` */
export interface IMonitorDeploymentsReply {
  deployments: IMonitoredDeployment[];
}

/**
 * A deployment's series over the window asked for, one value per interval of the
 * serving process's ring buffer (null: nothing to measure in that interval).
 */
export interface IMonitorSeries {
  /** The end of each interval, ISO 8601. */
  t: string[];
  rps: (number | null)[];
  p50_ms: (number | null)[];
  p99_ms: (number | null)[];
  /** Server errors (status >= 500) over the requests of the interval, 0 to 1. */
  error_rate: (number | null)[];
  /** Mean rows per model call. */
  batch_size: (number | null)[];
}

/** Totals since the serving process started (its Prometheus counters). */
export interface IMonitorTotals {
  requests: number | null;
  /** Answered with a status >= 500. */
  errors: number | null;
  /** Answered with a 4xx. */
  client_errors?: number | null;
  rows: number | null;
  by_code?: Record<string, number>;
  /** Requests per version. */
  by_version?: Record<string, number>;
  /** False when there are no metrics (not a local deployment, or not answering). */
  available?: boolean;
}

/** One version serving a deployment. */
export interface IMonitorVersion {
  version: number | string;
  status?: string;
  device?: string | null;
  run_id?: string | null;
  model?: string | null;
  /** Percent of the traffic. */
  traffic?: number | null;
  requests?: number | null;
}

/** How the inference log is doing (`_status.json`). */
export interface IInferenceLogStatus {
  rows_written: number | null;
  dropped: number | null;
  sampled_out: number | null;
  /** Why the log is not written, in one line; null when it is. */
  error: string | null;
}

/** `GET monitor/deployments/NAME?path=&since=` (`MonitorSummary.to_dict()`). */
export interface IMonitorSummary {
  name: string;
  target: string;
  status: string;
  version: number | string | null;
  /** Every version serving (two during a canary). */
  versions: IMonitorVersion[];
  device: string | null;
  run_id: string | null;
  url: string | null;
  /** Seconds per interval of the series. */
  interval_s?: number;
  /** The start of the series' window, ISO 8601. */
  since?: string | null;
  series: IMonitorSeries;
  totals: IMonitorTotals;
  log: IInferenceLogStatus;
  /** Why something is missing (no series for this target, the process not answering). */
  message?: string | null;
}

/** One value of a logged request (a cell of the inference table). */
export type InferenceValue = string | number | boolean | null;

/**
 * `GET monitor/deployments/NAME/inferences?path=&since=&limit=`: the logged requests,
 * newest last; columns `request_id`, `timestamp`, `version`, the inputs, the
 * predictions and `latency_ms`.
 */
export interface IInferencesReply {
  columns: string[];
  rows: InferenceValue[][];
  /** How many requests the window holds (more than `rows` when limited). */
  total: number;
  /** The model's output columns, where the server names them. */
  outputs?: string[];
}

/** The sparklines the panel draws, in order. */
export type SparklineId = 'rps' | 'latency' | 'error_rate' | 'batch_size';
