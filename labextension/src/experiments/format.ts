/** Text for the Experiments views. */

import { IRun } from './tokens';

/** Seconds for people: "0.4 s", "12 s", "3 min 5 s", "2 h 10 min". */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) {
    return '';
  }
  if (seconds < 10) {
    return `${seconds.toFixed(1)} s`;
  }
  if (seconds < 60) {
    return `${Math.round(seconds)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ${Math.round(seconds % 60)} s`;
  }
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** When a run started, relative to now: "just now", "5 min ago", or the date. */
export function formatStart(
  ms: number | null,
  now: number = Date.now()
): string {
  if (ms === null) {
    return '';
  }
  const seconds = (now - ms) / 1000;
  if (seconds < 45) {
    return 'just now';
  }
  if (seconds < 3600) {
    return `${Math.round(seconds / 60)} min ago`;
  }
  if (seconds < 86400) {
    return `${Math.round(seconds / 3600)} h ago`;
  }
  return new Date(ms).toLocaleDateString();
}

/** A date and time in full, for tooltips and the table. */
export function formatTime(ms: number | null): string {
  return ms === null ? '' : new Date(ms).toLocaleString();
}

/** A metric value: up to 4 significant digits. */
export function formatMetric(value: number | null | undefined): string {
  if (value === null || value === undefined) {
    return '—';
  }
  if (value !== 0 && (Math.abs(value) >= 1e5 || Math.abs(value) < 1e-3)) {
    return value.toExponential(2);
  }
  return String(Number(value.toPrecision(4)));
}

/** A byte count: "812 B", "4.2 kB", "3.1 MB". */
export function formatSize(bytes: number | null): string {
  if (bytes === null) {
    return '';
  }
  if (bytes < 1000) {
    return `${bytes} B`;
  }
  if (bytes < 1e6) {
    return `${(bytes / 1e3).toFixed(1)} kB`;
  }
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** The name to show for a run. */
export function runLabel(run: IRun): string {
  return run.run_name || run.run_id.slice(0, 8);
}

/** The state a status dot shows (the sidebar's colors). */
export function statusState(status: string): 'ok' | 'warning' | 'error' {
  switch (status) {
    case 'FINISHED':
      return 'ok';
    case 'FAILED':
      return 'error';
    default:
      return 'warning';
  }
}

/** The last part of a path. */
export function baseName(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut < 0 ? path : path.slice(cut + 1);
}
