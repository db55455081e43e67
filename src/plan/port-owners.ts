// Which of a selector's services own a port: indexed once, so that a lookup per listener costs O(log n) rather than a scan of every service.
import type { PortRange } from '../config/types.js';

export interface PortOwners {
  /** The names (in the order given) whose service's own ports hold `port`. */
  at(port: number): string[];
  /** The names with no service of their own in the list given (their ports are not known). */
  readonly unknown: readonly string[];
}

interface Span {
  from: number;
  to: number;
  /** Position of the name in `names`. */
  rank: number;
}

/**
 * Indexes the ranges of the services named in `names` (a ports-only selector stands for thousands
 * of services: a listener belongs to the one whose ports hold it). Spans are sorted by their start,
 * each with the highest end seen up to it, so a lookup is a binary search and a walk back over the
 * spans that can still reach the port.
 */
export function indexPortOwners(names: readonly string[], services: readonly { name: string; ports: readonly PortRange[] }[]): PortOwners {
  const portsOf = new Map<string, readonly PortRange[]>();
  for (const s of services) if (!portsOf.has(s.name)) portsOf.set(s.name, s.ports);
  const spans: Span[] = [];
  const unknown: string[] = [];
  names.forEach((name, rank) => {
    const ports = portsOf.get(name);
    if (!ports) unknown.push(name);
    else for (const r of ports) spans.push({ from: r.from, to: r.to, rank });
  });
  spans.sort((a, b) => a.from - b.from || a.rank - b.rank);
  const reach: number[] = [];
  for (const [i, s] of spans.entries()) reach.push(Math.max(s.to, i > 0 ? reach[i - 1]! : s.to));
  return {
    unknown,
    at(port: number): string[] {
      // Last span starting at or below the port.
      let lo = 0;
      let hi = spans.length - 1;
      let last = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (spans[mid]!.from <= port) {
          last = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      const ranks = new Set<number>();
      for (let i = last; i >= 0 && reach[i]! >= port; i--) if (spans[i]!.to >= port) ranks.add(spans[i]!.rank);
      return [...ranks].sort((a, b) => a - b).map((rank) => names[rank]!);
    },
  };
}
