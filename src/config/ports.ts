// Port lists ("8080", "9000-9010", 3000) -> sorted, merged inclusive ranges.
import type { PortRange } from './types.js';

export const MIN_PORT = 1;
export const MAX_PORT = 65535;

/** A port item as written: an integer or "a-b"; returns the range or a reason it is invalid. */
export function parsePortItem(item: number | string): PortRange | { error: string } {
  if (typeof item === 'number') {
    if (!Number.isInteger(item) || item < MIN_PORT || item > MAX_PORT) {
      return { error: `port ${item} is out of range (${MIN_PORT}-${MAX_PORT})` };
    }
    return { from: item, to: item };
  }
  const match = /^(\d+)(?:-(\d+))?$/.exec(item.trim());
  if (!match) return { error: `"${item}" is not a port or a range like "9000-9010"` };
  const from = Number(match[1]);
  const to = match[2] === undefined ? from : Number(match[2]);
  for (const port of [from, to]) {
    if (port < MIN_PORT || port > MAX_PORT) return { error: `port ${port} in "${item}" is out of range (${MIN_PORT}-${MAX_PORT})` };
  }
  if (to < from) return { error: `range "${item}" is reversed: write "${to}-${from}"` };
  return { from, to };
}

/** Sort and merge overlapping or adjacent ranges. */
export function mergeRanges(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from || a.to - b.to);
  const out: PortRange[] = [];
  for (const range of sorted) {
    const last = out[out.length - 1];
    if (last && range.from <= last.to + 1) {
      last.to = Math.max(last.to, range.to);
    } else {
      out.push({ from: range.from, to: range.to });
    }
  }
  return out;
}

/** The first port two sorted range lists share, or undefined. */
export function firstOverlap(a: readonly PortRange[], b: readonly PortRange[]): number | undefined {
  for (const x of a) {
    for (const y of b) {
      const from = Math.max(x.from, y.from);
      if (from <= Math.min(x.to, y.to)) return from;
    }
  }
  return undefined;
}

export function countPorts(ranges: readonly PortRange[]): number {
  return ranges.reduce((n, r) => n + r.to - r.from + 1, 0);
}

/** "3000,8080-8089" */
export function formatRanges(ranges: readonly PortRange[]): string {
  return ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(',');
}
