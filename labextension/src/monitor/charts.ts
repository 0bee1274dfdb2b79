import { JSONObject } from '@lumino/coreutils';

import {
  IDriftHistogram,
  IMonitorSeries,
  IPerformanceReply,
  SparklineId
} from './tokens';

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

/** Colours of the drift histograms and the performance chart. */
export interface IQualityColors {
  /** The reference's bars. */
  reference: string;
  /** The current window's bars; the performance line. */
  current: string;
  /** The training value's rule. */
  training: string;
  text: string;
}

/** The words of the drift histograms' legend and tooltips, translated. */
export interface IHistogramWords {
  reference: string;
  current: string;
  bin: string;
  /** Whose rows: the reference's or the window's. */
  rows: string;
  share: string;
}

/**
 * The Vega-Lite spec of one feature's histogram: the share of the reference's rows
 * and of the window's logged rows in each bin (or category), side by side, the
 * bins in the server's order.
 */
export function histogramSpec(
  feature: string,
  histogram: IDriftHistogram,
  colors: IQualityColors,
  words: IHistogramWords
): JSONObject {
  const values: JSONObject[] = [];
  histogram.bins.forEach((bin, i) => {
    for (const [series, shares] of [
      [words.reference, histogram.reference],
      [words.current, histogram.current]
    ] as const) {
      const share = shares[i];
      values.push({
        bin: String(bin),
        order: i,
        series,
        share: typeof share === 'number' ? share : null
      });
    }
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    description: `${feature}: reference vs current`,
    width: 'container',
    height: 150,
    autosize: { type: 'fit', contains: 'padding' },
    background: 'transparent',
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: {
        field: 'bin',
        type: 'ordinal',
        sort: { field: 'order' },
        title: null,
        axis: { labelAngle: -40, labelLimit: 60, labelOverlap: true }
      },
      xOffset: { field: 'series', sort: [words.reference, words.current] },
      y: {
        field: 'share',
        type: 'quantitative',
        title: null,
        axis: { format: '.0%', tickCount: 3 }
      },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        scale: {
          domain: [words.reference, words.current],
          range: [colors.reference, colors.current]
        },
        legend: { orient: 'top', direction: 'horizontal' }
      },
      tooltip: [
        { field: 'bin', type: 'ordinal', title: words.bin },
        { field: 'series', type: 'nominal', title: words.rows },
        {
          field: 'share',
          type: 'quantitative',
          title: words.share,
          format: '.1%'
        }
      ]
    },
    config: {
      view: { stroke: null },
      style: { 'guide-label': { fill: colors.text } },
      legend: { labelColor: colors.text }
    }
  };
}

/** The words of the performance chart's tooltips, translated. */
export interface IPerformanceWords {
  time: string;
  value: string;
  rows: string;
  training: string;
}

/**
 * The Vega-Lite spec of the performance chart: the metric per bucket of labelled
 * requests, and the training run's value as a dashed rule when it logged one.
 */
export function performanceSpec(
  reply: IPerformanceReply,
  colors: IQualityColors,
  words: IPerformanceWords
): JSONObject {
  const values: JSONObject[] = reply.points.map(p => ({
    t: p.t,
    v: typeof p.value === 'number' ? p.value : null,
    rows: typeof p.rows === 'number' ? p.rows : null
  }));
  const layers: JSONObject[] = [
    {
      data: { values },
      mark: {
        type: 'line',
        color: colors.current,
        strokeWidth: 1.5,
        point: { size: 14, filled: true, color: colors.current },
        invalid: null
      },
      encoding: {
        x: { field: 't', type: 'temporal', title: null },
        y: {
          field: 'v',
          type: 'quantitative',
          title: reply.metric,
          scale: { zero: false }
        },
        tooltip: [
          { field: 't', type: 'temporal', title: words.time, format: '%H:%M' },
          {
            field: 'v',
            type: 'quantitative',
            title: words.value,
            format: '.4~f'
          },
          { field: 'rows', type: 'quantitative', title: words.rows }
        ]
      }
    }
  ];
  if (typeof reply.training === 'number' && Number.isFinite(reply.training)) {
    layers.push({
      data: { values: [{ y: reply.training }] },
      mark: { type: 'rule', color: colors.training, strokeDash: [4, 3] },
      encoding: {
        y: { field: 'y', type: 'quantitative' },
        tooltip: [
          {
            field: 'y',
            type: 'quantitative',
            title: words.training,
            format: '.4~f'
          }
        ]
      }
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    description: `${reply.metric} over time`,
    width: 'container',
    height: 90,
    autosize: { type: 'fit', contains: 'padding' },
    background: 'transparent',
    layer: layers,
    config: {
      view: { stroke: null },
      style: {
        'guide-label': { fill: colors.text },
        'guide-title': { fill: colors.text }
      }
    }
  };
}

/**
 * The theme's colours for every chart of the panel, read from its CSS variables
 * (Vega draws with values, not variables).
 */
export function themeColors(): ISparklineColors & IQualityColors {
  const style = getComputedStyle(document.body);
  const read = (name: string, fallback: string): string =>
    style.getPropertyValue(name).trim() || fallback;
  const brand = read('--jp-brand-color1', '#1976d2');
  const warn = read('--jp-warn-color1', '#f57c00');
  return {
    line: brand,
    second: warn,
    error: read('--jp-error-color1', '#d32f2f'),
    text: read('--jp-ui-font-color2', '#616161'),
    reference: read('--jp-layout-color4', '#9e9e9e'),
    current: brand,
    training: warn
  };
}
