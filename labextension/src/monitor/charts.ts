import { JSONObject } from '@lumino/coreutils';

import { IMonitorSeries, SparklineId } from './tokens';

/** The mime type of the sparklines: JupyterLab's Vega-Lite 5 renderer draws them. */
export const VEGA_LITE = 'application/vnd.vegalite.v5+json';

/** The window the sparklines show, in milliseconds: the last hour. */
export const WINDOW_MS = 60 * 60 * 1000;

/** Colours of a sparkline (from the theme's CSS variables: Vega cannot read those). */
export interface ISparklineColors {
  line: string;
  /** The second line of the latency chart (p99). */
  second: string;
  /** The error rate's line. */
  error: string;
  /** Tooltip and label text. */
  text: string;
}

/** The words of a sparkline's tooltip, translated. */
export interface ISparklineWords {
  /** The end of the interval a point measures. */
  until: string;
  series: string;
  value: string;
}

/** One point of a sparkline's data: the interval's end, its value and its line. */
interface IPoint extends JSONObject {
  t: string;
  v: number | null;
  line: string;
}

/**
 * The Vega-Lite spec of one sparkline of `series` over `chartWindow` (the last hour,
 * or since the serving process started): no axes, a tooltip per point, nothing drawn where an
 * interval had nothing to measure (no request: no latency, no error rate).
 */
export function sparklineSpec(
  series: IMonitorSeries,
  id: SparklineId,
  colors: ISparklineColors,
  words: ISparklineWords
): JSONObject {
  const lines = LINES[id];
  const values: IPoint[] = [];
  for (const [line, key] of lines) {
    series.t.forEach((t, i) => {
      const v = series[key][i];
      values.push({ t, v: typeof v === 'number' ? v : null, line });
    });
  }
  const [start, end] = chartWindow(series);
  const range =
    id === 'latency'
      ? [colors.line, colors.second]
      : [id === 'error_rate' ? colors.error : colors.line];
  const format = FORMATS[id];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    description: `${id} over the last hour`,
    width: 'container',
    height: 32,
    autosize: { type: 'fit', contains: 'padding' },
    padding: { top: 3, bottom: 3, left: 0, right: 0 },
    background: 'transparent',
    data: { values },
    mark: {
      type: 'line',
      interpolate: 'monotone',
      strokeWidth: 1.5,
      point: { size: 6, filled: true },
      // an interval with nothing measured breaks the line instead of bridging it
      invalid: null
    },
    encoding: {
      x: {
        field: 't',
        type: 'temporal',
        axis: null,
        scale: {
          domain: [new Date(start).toISOString(), new Date(end).toISOString()]
        }
      },
      y: {
        field: 'v',
        type: 'quantitative',
        axis: null,
        scale: id === 'error_rate' ? { domain: [0, 1] } : { zero: true }
      },
      color: {
        field: 'line',
        type: 'nominal',
        legend: null,
        scale: { domain: lines.map(([line]) => line), range }
      },
      tooltip: [
        {
          field: 't',
          type: 'temporal',
          title: words.until,
          format: '%H:%M:%S'
        },
        { field: 'line', type: 'nominal', title: words.series },
        { field: 'v', type: 'quantitative', title: words.value, format }
      ]
    },
    config: {
      view: { stroke: null },
      style: { 'guide-label': { fill: colors.text } }
    }
  };
}

/** A chart's time axis never spans less than this (a process that just started). */
const MIN_WINDOW_MS = 60 * 1000;

/**
 * The time the sparklines span (ms since the epoch): from the oldest interval the
 * serving process measured, at most an hour back, to its newest one; at least a
 * minute, so that a process that just started does not stretch two points wide.
 */
export function chartWindow(series: IMonitorSeries): [number, number] {
  const times = series.t.map(t => Date.parse(t)).filter(Number.isFinite);
  const end = times.length ? times[times.length - 1] : Date.now();
  const first = times.length ? times[0] : end;
  const span = Math.min(WINDOW_MS, Math.max(MIN_WINDOW_MS, end - first));
  return [end - span, end];
}

/** Each sparkline's lines: the name shown in its tooltip and the series it draws. */
const LINES: Record<
  SparklineId,
  [string, Exclude<keyof IMonitorSeries, 't'>][]
> = {
  rps: [['requests/s', 'rps']],
  latency: [
    ['p50 ms', 'p50_ms'],
    ['p99 ms', 'p99_ms']
  ],
  error_rate: [['error rate', 'error_rate']],
  batch_size: [['rows per batch', 'batch_size']]
};

/** d3-format of each sparkline's values in its tooltip. */
const FORMATS: Record<SparklineId, string> = {
  rps: '.3~f',
  latency: '.1f',
  error_rate: '.1%',
  batch_size: '.1f'
};
