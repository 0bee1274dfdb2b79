import { InferenceValue, IMonitorSeries, IInferencesReply } from './tokens';

/** The newest value of a series that has one (null when none has). */
export function latest(values: readonly (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) {
    const value = values[i];
    if (typeof value === 'number' && Number.isFinite(value)) {
      return value;
    }
  }
  return null;
}

/** A number for a label: a few significant digits, no trailing zeros. */
export function formatNumber(value: number | null, digits = 3): string {
  if (value === null || !Number.isFinite(value)) {
    return '-';
  }
  if (value === 0) {
    return '0';
  }
  const magnitude = Math.abs(value);
  if (magnitude >= 1000) {
    return Math.round(value).toLocaleString();
  }
  return String(Number(value.toPrecision(digits)));
}

/** An error rate (0 to 1) as a percentage. */
export function formatRate(value: number | null): string {
  return value === null ? '-' : `${formatNumber(value * 100, 2)}%`;
}

/** Whether any interval of the series saw a request. */
export function hasTraffic(series: IMonitorSeries): boolean {
  return series.rps.some(v => typeof v === 'number' && v > 0);
}

/** The columns the inference table shows, and where they are in the reply's rows. */
export interface IInferenceColumns {
  requestId: number;
  timestamp: number;
  version: number;
  latency: number;
  /** The first few input features (name, index). */
  inputs: [string, number][];
  /** How many input features the table leaves out. */
  moreInputs: number;
  /** The prediction columns (name, index). */
  predictions: [string, number][];
}

/** Input features the table shows at most. */
const MAX_INPUTS = 3;

/** Prediction columns the table shows at most. */
const MAX_PREDICTIONS = 2;

/**
 * Sort the logged columns into what the table shows: the fixed columns, the first
 * few inputs and the predictions (the reply's `outputs` where it names them, else
 * `prediction`, `prediction_<i>`; a model's named outputs come after its inputs, so
 * the last column is taken as its output when no column is called prediction).
 */
export function inferenceColumns(reply: IInferencesReply): IInferenceColumns {
  const { columns } = reply;
  const fixed = new Set(['request_id', 'timestamp', 'version', 'latency_ms']);
  const rest = columns
    .map((name, index): [string, number] => [name, index])
    .filter(([name]) => !fixed.has(name));
  const outputs = reply.outputs;
  const isOutput = outputs
    ? (name: string) => outputs.includes(name)
    : (name: string) => /^prediction(_\d+)?$/.test(name);
  let predictions = rest.filter(([name]) => isOutput(name));
  let inputs = rest.filter(([name]) => !isOutput(name));
  if (predictions.length === 0 && inputs.length > 1) {
    predictions = inputs.slice(-1);
    inputs = inputs.slice(0, -1);
  }
  return {
    requestId: columns.indexOf('request_id'),
    timestamp: columns.indexOf('timestamp'),
    version: columns.indexOf('version'),
    latency: columns.indexOf('latency_ms'),
    inputs: inputs.slice(0, MAX_INPUTS),
    moreInputs: Math.max(0, inputs.length - MAX_INPUTS),
    predictions: predictions.slice(0, MAX_PREDICTIONS)
  };
}

/** A cell of the inference table. */
export function formatValue(value: InferenceValue | undefined): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'number') {
    return formatNumber(value, 4);
  }
  if (typeof value === 'object') {
    return JSON.stringify(value);
  }
  return String(value);
}

/** A logged timestamp (ISO 8601 or epoch seconds) as the local time of day. */
export function formatTime(value: InferenceValue | undefined): string {
  const date = toDate(value);
  return date
    ? date.toLocaleTimeString([], {
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hour12: false
      })
    : formatValue(value);
}

/** A logged timestamp as the full local date and time (a hover text). */
export function formatDateTime(value: InferenceValue | undefined): string {
  const date = toDate(value);
  return date ? date.toLocaleString() : formatValue(value);
}

function toDate(value: InferenceValue | undefined): Date | null {
  if (typeof value === 'number') {
    // epoch seconds, or milliseconds from a serializer that prefers them
    return new Date(value > 1e12 ? value : value * 1000);
  }
  if (typeof value === 'string') {
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? null : new Date(parsed);
  }
  return null;
}

/** An error's one-line message. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * An ISO 8601 time for a line of text: the time of day when it is today, else the
 * date and time (local); '-' when there is none.
 */
export function formatWhen(value: string | null | undefined): string {
  const date = toDate(value ?? null);
  if (date === null) {
    return '-';
  }
  const time = formatTime(value ?? null);
  return date.toDateString() === new Date().toDateString()
    ? time
    : `${date.toLocaleDateString()} ${time}`;
}
