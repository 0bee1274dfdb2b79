/** Text the deploy components show, computed from the server's replies. */

import { formatMs } from '../components/format';
import { CapabilityState } from '../tokens';
import { IDeployment, IDeployVersion, ISignatureInput } from './tokens';

/** The colour of a deployment's status dot. */
export function statusState(status: string): CapabilityState {
  switch (status) {
    case 'serving':
    case 'dry-run':
      return 'ok';
    case 'starting':
    case 'restarting':
      return 'warning';
    default:
      return 'error';
  }
}

/** The version taking (most of) the traffic. */
export function currentVersion(deployment: IDeployment): IDeployVersion | null {
  return (
    deployment.versions.find(v => v.version === deployment.version) ?? null
  );
}

/** "churn v3", or the model URI it was deployed from. */
export function modelLabel(version: IDeployVersion): string {
  if (version.registered_name) {
    return `${version.registered_name} v${version.registered_version}`;
  }
  // a run id is long: its first characters tell runs apart (the Run row has it whole)
  return version.model_uri.replace(/\b([0-9a-f]{8})[0-9a-f]{24}\b/, '$1…');
}

/** A URL without its scheme ("127.0.0.1:8080"): the sidebar is narrow. */
export function shortUrl(url: string): string {
  return url.replace(/^https?:\/\//, '');
}

/** "v1 90% · v2 10%"; empty when one version takes all the traffic. */
export function trafficText(deployment: IDeployment): string {
  const split = Object.entries(deployment.traffic);
  if (split.length < 2) {
    return '';
  }
  return split.map(([v, percent]) => `v${v} ${percent}%`).join(' · ');
}

/** "p50 4.2 ms · p99 9.0 ms · 12 requests", or null before any request. */
export function latencyText(deployment: IDeployment): string | null {
  const { p50_ms, p99_ms, requests } = deployment.metrics;
  if (p50_ms === undefined || p50_ms === null) {
    return null;
  }
  const parts = [`p50 ${formatMs(p50_ms)}`];
  if (p99_ms !== undefined && p99_ms !== null) {
    parts.push(`p99 ${formatMs(p99_ms)}`);
  }
  if (requests !== undefined) {
    parts.push(`${requests} req`);
  }
  return parts.join(' · ');
}

/**
 * A rollout under way ("v2: health check") or the reason the last one failed (the
 * version before it keeps serving); null when the last one went well.
 */
export function rolloutText(deployment: IDeployment): string | null {
  const rollout = deployment.details?.rollout;
  if (!rollout || rollout.ok === true) {
    return null;
  }
  if (rollout.ok === false) {
    return rollout.message ?? rollout.phase;
  }
  const what =
    rollout.kind === 'rollback'
      ? 'rollback'
      : rollout.version !== null
        ? `v${rollout.version}`
        : 'rollout';
  return `${what}: ${rollout.phase}`;
}

/** Whether a rollback has anything to return to (an earlier version or a canary). */
export function canRollBack(deployment: IDeployment): boolean {
  return (
    Object.keys(deployment.traffic).length > 1 ||
    new Set(deployment.history).size > 1
  );
}

function zero(type: string): unknown {
  switch (type) {
    case 'string':
      return '';
    case 'boolean':
      return false;
    case 'binary':
      return '';
    default:
      return 0;
  }
}

function zeros(shape: number[]): unknown {
  const [first, ...rest] = shape;
  if (first === undefined) {
    return 0;
  }
  const size = first < 0 ? 1 : Math.min(first, 64);
  return Array.from({ length: size }, () => zeros(rest));
}

/**
 * A request that fits the model's signature, to start from in the "try it" box:
 * one record of its columns, or `{"inputs": …}` of its tensor's shape.
 */
export function exampleInput(version: IDeployVersion | null): string {
  const inputs: ISignatureInput[] = version?.details?.signature?.inputs ?? [];
  const tensor = inputs.find(i => i.type === 'tensor' && i['tensor-spec']);
  if (tensor && tensor['tensor-spec']) {
    return JSON.stringify({ inputs: zeros(tensor['tensor-spec'].shape) });
  }
  const record: Record<string, unknown> = {};
  for (const input of inputs) {
    if (input.name) {
      record[input.name] = zero(input.type);
    }
  }
  return JSON.stringify([record]);
}

/** A prediction cell: numbers to 6 significant digits. */
export function formatCell(value: unknown): string {
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? String(value)
      : String(+value.toPrecision(6));
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
}
