/**
 * Shapes of the `/mlops/api/pipeline` replies (see `jupyter_mlops/server/pipeline.py`).
 */

/** A name a step reads, and the step that makes it. */
export interface IStepInput {
  name: string;
  from: string;
}

/** One step of the pipeline, as the server read it from the notebook. */
export interface IPipelineStep {
  name: string;
  /** 0-based positions of the step's cells among all the notebook's cells. */
  cells: number[];
  cell_ids: (string | null)[];
  inputs: IStepInput[];
  outputs: string[];
  parameters: string[];
  after: string[];
  depends_on: string[];
  resources: { gpu: number; cpu: string | null; memory: string | null };
  retries: number;
  cache: boolean;
}

/** A dependency: the names passed along it; `after` when only `--after` makes it. */
export interface IPipelineEdge {
  from: string;
  to: string;
  names: string[];
  after: boolean;
}

/** A typed parameter from the `parameters` cell. */
export interface IPipelineParameter {
  name: string;
  type: 'int' | 'float' | 'str' | 'bool' | 'list' | 'dict' | 'any';
  default: unknown;
  cell: number;
  line: number;
}

/** A warning about the notebook, at a cell (0-based) and line. */
export interface IFinding {
  message: string;
  cell: number | null;
  line: number | null;
  cell_id: string | null;
  text: string;
}

/** `GET pipeline?path=NB` / `POST pipeline {path, content}`. */
export interface IPipelineDag {
  name: string;
  notebook: string;
  artifacts: string;
  steps: IPipelineStep[];
  edges: IPipelineEdge[];
  parameters: IPipelineParameter[];
  shared_cells: number[];
  parameters_cells: number[];
  skipped_cells: number[];
  warnings: IFinding[];
  /** Top-left corner of each step's box. */
  layout: Record<string, { x: number; y: number }>;
  /** The grid the layout was made on: a box's size and the gaps between boxes. */
  node_size: { width: number; height: number; gap_x: number; gap_y: number };
}

export type StepState =
  'queued' | 'running' | 'cached' | 'done' | 'failed' | 'skipped';

export type RunState = 'running' | 'done' | 'failed' | 'cancelled';

/** Where a step failed: the notebook cell (0-based) and the line in it. */
export interface IStepError {
  message: string;
  cell: number | null;
  line: number | null;
  cell_id: string | null;
  text: string;
}

export interface IRunStep {
  name: string;
  state: StepState;
  started: number | null;
  finished: number | null;
  seconds: number | null;
  attempts: number;
  message: string;
  error: IStepError | null;
  outputs: string[];
  /** The step's log, relative to the server root ("" before it started). */
  log: string;
  log_tail: string;
}

/** `GET pipeline/runs/ID?path=NB`. */
export interface IPipelineRun {
  run_id: string;
  pipeline: string;
  notebook: string;
  folder: string;
  state: RunState;
  parameters: Record<string, unknown>;
  steps: IRunStep[];
  started: number;
  finished: number | null;
  error: string | null;
  /** The runner's own output, when the run failed outside any step. */
  runner_log_tail?: string;
}

/** One entry of `GET pipeline/runs?path=NB`. */
export interface IRunSummary {
  run_id: string;
  state: RunState;
  started: number;
  finished: number | null;
  parameters: Record<string, unknown>;
  error: string | null;
  /** How many steps ended in each state. */
  steps: Partial<Record<StepState, number>>;
}

export interface IRunList {
  notebook: string;
  runs: IRunSummary[];
}

/** `GET pipeline/runs/ID/logs/STEP?path=NB`. */
export interface IStepLog {
  run_id: string;
  step: string;
  text: string;
}

export type ExportTarget = 'airflow' | 'prefect' | 'kfp';

/** `POST pipeline/export`: the files written, relative to the server root. */
export interface IExportResult {
  target: ExportTarget;
  files: string[];
  notes: string[];
  compiled: boolean | null;
}

/** What the "set step" form writes into a cell's `mlops.step` metadata. */
export interface IStepMark {
  name: string;
  after?: string[];
  gpu?: number;
  cpu?: string;
  memory?: string;
  retries?: number;
  cache?: boolean;
}

/** How the run was asked for: parameters and from-step / only choices. */
export interface IRunRequest {
  parameters: Record<string, unknown>;
  from_step?: string;
  only?: string;
}
