/**
 * Shapes of the Features capability's `/mlops/api/features/…` replies.
 *
 * Every route takes `?path=FOLDER` (relative to the server root): the project whose
 * configuration applies, exactly as `GET status` does.
 */

/** Which store answers: the embedded DuckDB/Parquet one or a Feast repository. */
export type FeatureBackend = 'embedded' | 'feast';

/** A feature view as the search lists it. */
export interface IViewSummary {
  name: string;
  version: number;
  description: string;
  owner: string | null;
  tags: Record<string, string>;
  /** The entity (join key) columns. */
  entities: string[];
  features: string[];
  /** The newest event timestamp in the view (ISO-8601). */
  newest_event: string | null;
  /** When the view was last published (ISO-8601). */
  last_publish: string | null;
  rows: number | null;
  /** Which field matched the search text, e.g. "description"; null without one. */
  match: string | null;
}

/** `GET features/views?q=&tag=k=v&owner=&path=`: newest publish first. */
export interface IViewsReply {
  backend: FeatureBackend;
  views: IViewSummary[];
}

/** What a column is to the view. */
export type ColumnRole =
  'entity' | 'timestamp' | 'created_timestamp' | 'feature';

export interface ISchemaField {
  name: string;
  type: string;
  role: ColumnRole;
  description: string;
}

export interface IViewVersion {
  version: number;
  created_at: string;
  columns: string[];
}

/** An MLflow run that retrieved features from the view. */
export interface IViewRun {
  run_id: string;
  run_name: string;
  experiment_id: string;
  status: string;
  started_at: string | null;
}

/** One view in full. */
export interface IViewDetail extends IViewSummary {
  timestamp: string;
  created_timestamp: string | null;
  ttl_seconds: number | null;
  versions: IViewVersion[];
  schema: ISchemaField[];
  runs: IViewRun[];
  /** A ready `%mlops features get …` line for a notebook cell. */
  snippet: string;
}

/** `GET features/views/NAME?version=N&path=` */
export interface IViewReply {
  view: IViewDetail;
}

/** A JSON value as the statistics carry it (min/max of any column type). */
export type StatValue = string | number | boolean | null;

export interface IColumnStats {
  name: string;
  type: string;
  nulls: number | null;
  min: StatValue;
  max: StatValue;
  mean: number | null;
  distinct: number | null;
}

/** `GET features/views/NAME/stats?version=N&path=` (computed lazily by the server). */
export interface IViewStats {
  name: string;
  version: number;
  rows: number;
  columns: IColumnStats[];
}

/** The search the panel sends: text and filters. */
export interface IViewQuery {
  q?: string;
  /** `key=value` */
  tag?: string;
  owner?: string;
}
