// What a file's merge looks at (its ports and service names, parsed and last good): counted per port and name, and claimed by one changed file.
import { mergeRanges } from './ports.js';
import type { FileResult, FileState, PortRange, Service } from './types.js';

export function lastGoodOf(state: FileState | undefined): readonly Service[] | undefined {
  return state && state.status !== 'rejected' ? state.services : undefined;
}

export function sameServices(a: readonly Service[] | undefined, b: readonly Service[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  return a.every((s, i) => s === b[i]);
}

export function touched(result: FileResult, lastGood: readonly Service[] | undefined): { ranges: PortRange[]; names: string[] } {
  const services = [...(result.ok ? result.services : []), ...(lastGood ?? [])];
  // Each port and name once: a file's counts in the indexes are 0 or 1.
  return { ranges: mergeRanges(services.flatMap((s) => s.ports)), names: [...new Set(services.map((s) => s.name))] };
}

export function count<K>(map: Map<K, number>, key: K, by: number): void {
  const next = (map.get(key) ?? 0) + by;
  if (next === 0) map.delete(key);
  else map.set(key, next);
}

export function eachPort(ranges: readonly PortRange[], fn: (port: number) => void): void {
  for (const range of ranges) for (let port = range.from; port <= range.to; port++) fn(port);
}

/** Which changed file holds each port and name. */
export interface Claims {
  ports: Map<number, string>;
  names: Map<string, string>;
}

/** Claim every port and name `file` looks at; false when another changed file claimed one first. */
export function claim(claims: Claims, file: string, names: readonly string[], ranges: readonly PortRange[]): boolean {
  for (const name of names) {
    const holder = claims.names.get(name);
    if (holder !== undefined && holder !== file) return false;
    claims.names.set(name, file);
  }
  let ok = true;
  eachPort(ranges, (port) => {
    const holder = claims.ports.get(port);
    if (holder !== undefined && holder !== file) ok = false;
    else claims.ports.set(port, file);
  });
  return ok;
}
