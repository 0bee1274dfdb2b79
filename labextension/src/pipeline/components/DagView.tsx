import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IPipelineDag, IPipelineStep, StepState } from '../types';

const PAD = 10;
/** Boxes drawn smaller than the server's (made for a notebook's width), on its grid. */
const NODE_W = 120;
const NODE_H = 42;
const GAP_X = 12;
const GAP_Y = 40;
/** Vertical distance between stacked edge labels. */
const LABEL_STEP = 11;
/** The smallest scale the DAG is drawn at in a narrow sidebar (below it, it scrolls). */
const MIN_SCALE = 0.75;
/** Longest edge label drawn (in characters); the whole list is in the tooltip. */
const LABEL_CHARS = 18;

export interface IDagViewProps {
  dag: IPipelineDag;
  /** Each step's state in the run shown, when there is one. */
  states: Record<string, StepState>;
  /** The step holding the notebook's active cell. */
  selected: string | null;
  onSelect: (step: string) => void;
  trans: TranslationBundle;
}

/**
 * The DAG as an SVG drawn at the server's layout: a box per step (its state from the run
 * shown), an arrow per dependency labelled with the names passed along it.
 */
export function DagView(props: IDagViewProps): JSX.Element {
  const { dag, states, selected, onSelect, trans } = props;
  const grid = dag.node_size;
  // the labels of all edges leaving one row sit one above the other in the gap below it,
  // so that labels of edges meeting at one step do not overlap: the gap fits them all
  const slots = labelSlots(dag);
  const gapY = Math.max(GAP_Y, 14 + LABEL_STEP * slots.deepest);
  const sx = (NODE_W + GAP_X) / (grid.width + grid.gap_x);
  const sy = (NODE_H + gapY) / (grid.height + grid.gap_y);
  const w = NODE_W;
  const h = NODE_H;
  const at = (name: string): { x: number; y: number } => {
    const corner = dag.layout[name] ?? { x: 0, y: 0 };
    return { x: corner.x * sx + PAD, y: corner.y * sy + PAD };
  };
  const corners = dag.steps.map(step => at(step.name));
  // an edge that skips rows goes around the boxes in between, in a lane beside them
  const lanes = dag.edges.map(edge => {
    const from = at(edge.from);
    const to = at(edge.to);
    return edgeLane(
      from.x + w / 2,
      from.y + h,
      to.x + w / 2,
      to.y,
      corners,
      w,
      h
    );
  });
  const width =
    Math.max(
      ...corners.map(c => c.x + w),
      ...lanes.map(l => (l ? l.x + GAP_X : 0)),
      0
    ) + PAD;
  const height = Math.max(...corners.map(c => c.y), 0) + h + PAD;

  return (
    <svg
      className="jp-mlops-pipeline-dag"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      // shrunk to the sidebar's width, but not below a readable size (then it scrolls)
      style={{ minWidth: Math.round(width * MIN_SCALE) }}
      role="group"
      aria-label={trans.__('Steps of the pipeline')}
    >
      <defs>
        <marker
          id="jp-mlops-pipeline-arrow"
          viewBox="0 0 10 10"
          refX="9"
          refY="5"
          markerWidth="7"
          markerHeight="7"
          orient="auto-start-reverse"
        >
          <path
            d="M 0 0 L 10 5 L 0 10 z"
            className="jp-mlops-pipeline-arrowhead"
          />
        </marker>
      </defs>
      {dag.edges.map((edge, index) => {
        // (the edge: a curve from the bottom of its source to the top of its target)
        const from = at(edge.from);
        const to = at(edge.to);
        const x1 = from.x + w / 2;
        const y1 = from.y + h;
        const x2 = to.x + w / 2;
        const y2 = to.y;
        const mid = (y1 + y2) / 2;
        const lane = lanes[index];
        // beside its edge, at its own height in the gap below the edge's source
        const ly = y1 + 11 + LABEL_STEP * slots.slot[index];
        const leftward = (lane ? lane.x : x2) < x1 - 1;
        const lx =
          (lane
            ? curveX(x1, y1, lane.x, lane.top, ly)
            : curveX(x1, y1, x2, y2, ly)) + (leftward ? -5 : 5);
        const d = lane
          ? `M ${x1} ${y1} C ${x1} ${(y1 + lane.top) / 2}, ${lane.x} ${(y1 + lane.top) / 2}, ${lane.x} ${lane.top} ` +
            `L ${lane.x} ${lane.bottom} ` +
            `C ${lane.x} ${(lane.bottom + y2) / 2}, ${x2} ${(lane.bottom + y2) / 2}, ${x2} ${y2 - 2}`
          : `M ${x1} ${y1} C ${x1} ${mid}, ${x2} ${mid}, ${x2} ${y2 - 2}`;
        const label = edge.after
          ? trans.__('after')
          : shorten(edge.names.join(', '), LABEL_CHARS);
        return (
          <g
            key={`${edge.from}->${edge.to}`}
            className="jp-mlops-pipeline-edge"
            data-from={edge.from}
            data-to={edge.to}
            data-after={edge.after}
            data-lane={lane ? 'true' : undefined}
          >
            <title>
              {edge.after
                ? trans.__('%1 runs after %2', edge.to, edge.from)
                : trans.__(
                    '%1 → %2: %3',
                    edge.from,
                    edge.to,
                    edge.names.join(', ')
                  )}
            </title>
            <path d={d} markerEnd="url(#jp-mlops-pipeline-arrow)" />
            <text
              className="jp-mlops-pipeline-edge-label"
              x={lx}
              y={ly}
              textAnchor={leftward ? 'end' : 'start'}
            >
              {label}
            </text>
          </g>
        );
      })}
      {dag.steps.map(step => {
        const corner = at(step.name);
        const state = states[step.name];
        return (
          <g
            key={step.name}
            className="jp-mlops-pipeline-node"
            data-step={step.name}
            data-state={state ?? 'none'}
            data-selected={step.name === selected}
            transform={`translate(${corner.x} ${corner.y})`}
            role="button"
            tabIndex={0}
            aria-label={trans.__('Step %1: select its cells', step.name)}
            onClick={() => onSelect(step.name)}
            onKeyDown={event => {
              if (event.key === 'Enter' || event.key === ' ') {
                event.preventDefault();
                onSelect(step.name);
              }
            }}
          >
            <title>{describe(step, state, trans)}</title>
            <rect width={w} height={h} rx={6} ry={6} />
            <text className="jp-mlops-pipeline-node-name" x={8} y={17}>
              {shorten(step.name, 14)}
            </text>
            <text className="jp-mlops-pipeline-node-detail" x={8} y={33}>
              {state ? stateLabel(state, trans) : detail(step, trans)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

/**
 * The lane of an edge from (x1, y1) down to (x2, y2) that would cross a box of a row in
 * between: a vertical line in the gap beside those boxes (the side nearer the edge), from
 * just above the first such row to just below the last; null when the way is clear.
 */
export function edgeLane(
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  corners: { x: number; y: number }[],
  w: number,
  h: number
): { x: number; top: number; bottom: number } | null {
  const between = corners.filter(c => c.y > y1 && c.y + h < y2);
  if (between.length === 0) {
    return null;
  }
  const margin = 4;
  const blocks = (x: number): boolean =>
    between.some(c => x > c.x - margin && x < c.x + w + margin);
  // the straight course, sampled where it passes the rows in between
  const crosses = between.some(c => {
    const t = (c.y + h / 2 - y1) / (y2 - y1);
    const x = x1 + (x2 - x1) * t;
    return x > c.x - margin && x < c.x + w + margin;
  });
  if (!crosses) {
    return null;
  }
  const start = (x1 + x2) / 2;
  let right = start;
  while (blocks(right)) {
    right =
      Math.max(
        ...between
          .filter(c => right > c.x - margin && right < c.x + w + margin)
          .map(c => c.x + w)
      ) +
      GAP_X / 2;
  }
  let left = start;
  while (blocks(left) && left > 0) {
    left =
      Math.min(
        ...between
          .filter(c => left > c.x - margin && left < c.x + w + margin)
          .map(c => c.x)
      ) -
      GAP_X / 2;
  }
  const x = left > 0 && start - left < right - start ? left : right;
  const top = Math.min(...between.map(c => c.y)) - margin;
  const bottom = Math.max(...between.map(c => c.y + h)) + margin;
  return { x, top, bottom };
}

/** Each edge's place among the labels in the gap below its source's row. */
function labelSlots(dag: IPipelineDag): { slot: number[]; deepest: number } {
  const used = new Map<number, number>();
  const slot = dag.edges.map(edge => {
    const row = dag.layout[edge.from]?.y ?? 0;
    const next = used.get(row) ?? 0;
    used.set(row, next + 1);
    return next;
  });
  return { slot, deepest: Math.max(0, ...used.values()) };
}

/** Where the edge's curve (controls at mid-height) is at height `y`. */
function curveX(
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  y: number
): number {
  const mid = (y1 + y2) / 2;
  let best = x1;
  let distance = Infinity;
  for (let i = 0; i <= 40; i++) {
    const t = i / 40;
    const u = 1 - t;
    const cy = u * u * u * y1 + 3 * u * t * mid + t * t * t * y2;
    if (Math.abs(cy - y) < distance) {
      distance = Math.abs(cy - y);
      best = x1 + (x2 - x1) * (3 * t * t - 2 * t * t * t);
    }
  }
  return best;
}

/** A step's state in words. */
export function stateLabel(state: StepState, trans: TranslationBundle): string {
  switch (state) {
    case 'queued':
      return trans.__('queued');
    case 'running':
      return trans.__('running…');
    case 'cached':
      return trans.__('cached');
    case 'done':
      return trans.__('done');
    case 'failed':
      return trans.__('failed');
    case 'skipped':
      return trans.__('skipped');
  }
}

function detail(step: IPipelineStep, trans: TranslationBundle): string {
  const parts: string[] = [];
  parts.push(
    trans._n('%1 cell', '%1 cells', step.cells.length, step.cells.length)
  );
  if (step.resources.gpu > 0) {
    parts.push(trans.__('%1 GPU', step.resources.gpu));
  }
  if (step.retries > 0) {
    parts.push(trans.__('retries %1', step.retries));
  }
  if (!step.cache) {
    parts.push(trans.__('no cache'));
  }
  return shorten(parts.join(' · '), 20);
}

function describe(
  step: IPipelineStep,
  state: StepState | undefined,
  trans: TranslationBundle
): string {
  const none = trans.__('none');
  const lines = [
    step.name + (state ? ` (${stateLabel(state, trans)})` : ''),
    trans.__(
      'reads: %1',
      step.inputs.map(i => `${i.name} ← ${i.from}`).join(', ') || none
    ),
    trans.__('hands on: %1', step.outputs.join(', ') || none),
    trans.__('parameters: %1', step.parameters.join(', ') || none),
    trans.__('cells: %1', step.cells.map(c => c + 1).join(', '))
  ];
  return lines.join('\n');
}

function shorten(text: string, limit: number): string {
  return text.length <= limit ? text : text.slice(0, limit - 1) + '…';
}
