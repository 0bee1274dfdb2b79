/**
 * Shapes of the `/mlops/api/deployments` replies (see `jupyter_mlops/server/deploy.py`),
 * and the ids other panels use to deploy.
 */

/** Deploy a model: args `IDeployModelArgs`, resolves with the final `IDeployment`. */
export const DEPLOY_MODEL_COMMAND = 'mlops:deploy-model';

/** Show a deployment in the Monitor panel: args `{ name }` (the card's Monitor link). */
export const MONITOR_DEPLOYMENT_COMMAND = 'mlops:monitor-deployment';

/** What `mlops:deploy-model` takes (the Experiments panel's Deploy button calls it). */
export interface IDeployModelArgs {
  /** `runs:/RUN/model`, `models:/NAME@ALIAS`, `models:/NAME/N` or a run id. */
  model: string;
  /** The project folder, relative to the server root; the document in use's by default. */
  folder?: string;
  name?: string;
  /** `local`, `kserve` or `sagemaker`; the project's default target when absent. */
  target?: string;
}

/** The body of `POST deployments`. */
export interface IDeployRequest {
  model: string;
  target?: string;
  name?: string;
  gpu?: string;
  canary?: number;
  /** KServe only: write the InferenceService YAML and return it, apply nothing. */
  dry_run?: boolean;
}

/** An MLflow signature column or tensor. */
export interface ISignatureInput {
  type: string;
  name?: string;
  'tensor-spec'?: { dtype: string; shape: number[] };
}

/** One model version of a deployment. */
export interface IDeployVersion {
  version: number;
  model_uri: string;
  run_id: string | null;
  registered_name: string | null;
  registered_version: string | null;
  status: string;
  device: string | null;
  warmup_ms: number | null;
  message: string | null;
  details?: {
    signature?: { inputs?: ISignatureInput[] | null } | null;
  };
}

/** Requests served recently, as the serving process counts them. */
export interface IDeploymentMetrics {
  requests?: number;
  rejected?: number;
  client_errors?: number;
  server_errors?: number;
  rps?: number;
  p50_ms?: number;
  p99_ms?: number;
  queued?: number;
}

/** A deployment as `GET deployments` reports it: live status, health and latency. */
export interface IDeployment {
  name: string;
  target: string;
  url: string | null;
  /** starting, serving, restarting, failed, dead, unresponsive, stopped, dry-run, removed */
  status: string;
  /** "ok", or why not. */
  health: string;
  version: number | null;
  versions: IDeployVersion[];
  /** Version number -> percent of the traffic. */
  traffic: Record<string, number>;
  /** Versions that served, oldest first. */
  history: number[];
  metrics: IDeploymentMetrics;
  message: string | null;
  model: string | null;
  run_id: string | null;
  device: string | null;
  warmup_ms: number | null;
  updated_at: number;
  details?: {
    /** The last rollout or rollback of a local deployment, as its front saw it. */
    rollout?: IRollout | null;
    /** A KServe dry run: the InferenceService YAML, and where it was written. */
    yaml?: string;
    manifest?: string;
    namespace?: string;
  };
}

/** A local deployment's last rollout (`ok` null while it runs). */
export interface IRollout {
  version: number | null;
  phase: string;
  ok: boolean | null;
  message?: string | null;
  kind?: 'deploy' | 'rollback';
}

/** A target, and whether this server can deploy to it (and why not). */
export interface IDeployTarget {
  id: string;
  available: boolean;
  detail: string;
  /** Whether a dry run works here even when `available` is false (KServe). */
  dry_run?: boolean;
}

/** `GET deployments` */
export interface IDeploymentsReply {
  deployments: IDeployment[];
  targets: IDeployTarget[];
  default_target: string;
}

/** One line of a task's progress; `t` in seconds since it started. */
export interface IProgressLine {
  t: number;
  message: string;
}

/** A deploy or rollback running on the server, as `GET deployments/tasks/ID` reports it. */
export interface IDeployTask {
  id: string;
  kind: 'deploy' | 'rollback';
  name: string | null;
  /** What was asked: the model (deploy) or the deployment's name (rollback). */
  label?: string;
  dry_run?: boolean;
  state: 'running' | 'done' | 'failed';
  progress: IProgressLine[];
  deployment: IDeployment | null;
  error: string | null;
  status_code: number | null;
  started_at: number;
  finished_at: number | null;
  /**
   * The bearer token a deploy made (`deploy.auth = "token"`): in the first look at the
   * finished task only, never again.
   */
  token?: string | null;
}

/** `GET deployments/NAME/logs` */
export interface IDeploymentLogs {
  name: string;
  sections: Record<string, string[]>;
}

/** `POST deployments/NAME/predict`: the predictions, split orient. */
export interface IPredictions {
  columns: (string | number)[];
  data: unknown[][];
}
