/** Text for the Features panel's values: ages, counts, durations, statistics. */

import { Time } from '@jupyterlab/coreutils';

import { StatValue } from './tokens';

/** "3 hr. ago" for an ISO-8601 time; null for a missing or unreadable one. */
export function formatAge(iso: string | null): string | null {
  if (!iso) {
    return null;
  }
  const time = new Date(iso);
  if (Number.isNaN(time.getTime())) {
    return null;
  }
  return Time.formatHuman(time, 'short');
}

/** A time as the reader's locale writes it (date and minutes). */
export function formatTime(iso: string | null): string {
  if (!iso) {
    return '';
  }
  const time = new Date(iso);
  return Number.isNaN(time.getTime()) ? iso : Time.format(time);
}

/** 1234567 as "1,234,567" (the reader's locale). */
export function formatCount(value: number | null): string {
  return value === null ? '' : value.toLocaleString();
}

/** A time-to-live in the largest whole unit: "30 d", "6 h", "90 s". */
export function formatTtl(seconds: number): string {
  const units: [number, string][] = [
    [86400, 'd'],
    [3600, 'h'],
    [60, 'min']
  ];
  for (const [size, unit] of units) {
    if (seconds >= size && seconds % size === 0) {
      return `${seconds / size} ${unit}`;
    }
  }
  return `${seconds} s`;
}

/** A statistic: numbers to 6 significant digits, ISO times in the reader's locale. */
export function formatStat(value: StatValue): string {
  if (value === null) {
    return '';
  }
  if (typeof value === 'number') {
    if (Number.isInteger(value)) {
      return value.toLocaleString();
    }
    return value.toLocaleString(undefined, { maximumSignificantDigits: 6 });
  }
  if (typeof value === 'string' && ISO_TIME.test(value)) {
    return formatTime(value);
  }
  return String(value);
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

/** `{team: "growth"}` as `["team=growth"]`. */
export function tagPairs(tags: Record<string, string>): string[] {
  return Object.entries(tags).map(([key, value]) => `${key}=${value}`);
}
