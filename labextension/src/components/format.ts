/** Small text formatting shared by the components. */

/** A duration for people: "<1 ms", "4.2 ms", "35 ms", "1.2 s". */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) {
    return '';
  }
  if (ms < 1) {
    return '<1 ms';
  }
  if (ms < 10) {
    return `${ms.toFixed(1)} ms`;
  }
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  return `${(ms / 1000).toFixed(1)} s`;
}

/** A wall-clock time as HH:MM:SS (24 h, local time). */
export function formatClock(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A configuration value as text; an empty one reads as `empty`. */
export function formatValue(value: unknown, empty: string): string {
  if (value === '' || value === null || value === undefined) {
    return empty;
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}
