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

// ------------------------------------------------------------------ Monitor II

/** How a column is compared with the reference. */
export type DriftKind = 'numeric' | 'categorical';

/** One row of a drift report: a feature (or `prediction`) against the reference. */
export interface IFeatureDrift {
  feature: string;
  kind: DriftKind;
  /** psi, wasserstein, ks, chisquare or jensenshannon. */
  method: string;
  /** null: nothing to compare (no logged row in the window). */
  statistic: number | null;
  threshold: number | null;
  drifted: boolean;
  reference_rows: number | null;
  current_rows: number | null;
}

/** Reference vs current shares of one feature, bin by bin (or value by value). */
export interface IDriftHistogram {
  bins: string[];
  reference: (number | null)[];
  current: (number | null)[];
}

/**
 * `GET monitor/deployments/NAME/drift?path=&since=&until=` (`DriftReport.to_dict()`);
 * without a reference: `features` empty and `message` saying how to give one.
 */
export interface IDriftReport {
  name: string;
  since?: string | null;
  until?: string | null;
  /** Where the reference came from (one line) and its rows; null without one. */
  reference?: { origin: string | null; rows: number | null } | null;
  current_rows?: number | null;
  features: IFeatureDrift[];
  drifted?: string[];
  /** The model's inputs the reference does not have. */
  missing?: string[];
  histograms?: Record<string, IDriftHistogram>;
  message?: string | null;
}

/** One bucket of the performance series. */
export interface IPerformancePoint {
  /** The bucket's start, ISO 8601. */
  t: string;
  value: number | null;
  /** Labelled rows in the bucket. */
  rows: number | null;
}

/** The metrics the performance route computes. */
export const METRICS = ['accuracy', 'f1', 'auc', 'rmse', 'mae'] as const;
export type MetricName = (typeof METRICS)[number];

/** `GET monitor/deployments/NAME/performance?path=&metric=&since=&by=` */
export interface IPerformanceReply {
  metric: string;
  by?: string | null;
  /** The training run's value of the same metric; null when it logged none. */
  training: number | null;
  points: IPerformancePoint[];
  /** Why there are no points (no labels: how to log them). */
  message?: string | null;
}

/** Where a rule's retraining is. */
export type RetrainStatus = 'running' | 'succeeded' | 'failed';

/** How a rule's last retraining run went. */
export interface IRuleResult {
  status: RetrainStatus;
  run_id?: string | null;
  /** Where the run's log is. */
  log?: string | null;
  /** The end of a failed run's log. */
  log_tail?: string | null;
  error?: string | null;
  /** A rule with an engine target: which engine ran it, and its run there. */
  engine?: string | null;
  engine_run?: string | null;
}

/** One rule of a deployment (`Rule.to_dict()`). */
export interface IRule {
  id: string;
  /** `drift`, `drift:FEATURE`, `metric:NAME<0.8`, `rows>10000`. */
  when: string;
  /** The notebook whose pipeline it starts. */
  then: string;
  target: string;
  cooldown_s?: number | null;
  created?: string | null;
  /** When it last fired, ISO 8601; null: never. */
  last_fired?: string | null;
  last_result?: IRuleResult | null;
}

/** `GET monitor/deployments/NAME/rules?path=` */
export interface IRulesReply {
  rules: IRule[];
}

/** What a check made of one rule. */
export interface IRuleCheck {
  id: string;
  when: string;
  /** Whether the condition holds; null: it could not be evaluated (`reason` says why). */
  holds: boolean | null;
  fired: boolean;
  /** Why it did not fire although its condition holds (`cooldown`, `running`). */
  skipped?: string | null;
  /** The condition's finding, one line. */
  reason?: string | null;
  result?: IRuleResult | null;
}

/** `POST monitor/deployments/NAME/check?path=` (`CheckResult.to_dict()`). */
export interface ICheckResult {
  name: string;
  checked_at: string;
  dry_run?: boolean;
  rules: IRuleCheck[];
}
