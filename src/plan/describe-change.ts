// What changed between two snapshots, in the words of the restart log: "ports +3000 -8080 (frontend.yaml added, api.yaml removed)".
import { basename } from 'node:path';
import { formatRanges, mergeRanges } from '../config/ports.js';
import type { SnapshotDelta } from '../config/merge-incremental.js';
import type { FileState, PortRange, Service } from '../config/types.js';

export interface Change {
  added: PortRange[];
  removed: PortRange[];
  /** e.g. ["frontend.yaml added", "api.yaml removed", "db.yaml changed", "bad.yaml invalid"] */
  files: string[];
  servicesAdded: string[];
  servicesRemoved: string[];
}

/** Ports in `a` that are not in `b`. */
export function subtractRanges(a: readonly PortRange[], b: readonly PortRange[]): PortRange[] {
  const out: PortRange[] = [];
  for (const range of mergeRanges(a)) {
    let pieces: PortRange[] = [{ ...range }];
    for (const cut of b) {
      pieces = pieces.flatMap((p) => {
        if (cut.to < p.from || cut.from > p.to) return [p];
        const left = cut.from > p.from ? [{ from: p.from, to: cut.from - 1 }] : [];
        const right = cut.to < p.to ? [{ from: cut.to + 1, to: p.to }] : [];
        return [...left, ...right];
      });
    }
    out.push(...pieces);
  }
  return out;
}

function contentKey(state: FileState): string {
  return JSON.stringify(state.services.map((s) => [s.name, s.ports, s.exe ?? null, s.health, s.type ?? null]));
}

/** Same services; the loader's cache hands back the very same objects for an unchanged file, so most checks end at the first test. */
function sameContent(a: FileState, b: FileState): boolean {
  if (a.services.length === b.services.length && a.services.every((s, i) => s === b.services[i])) return true;
  return contentKey(a) === contentKey(b);
}

/** How one file's state moved, in the words of the restart log; undefined when it did not. */
function describeFile(previous: FileState | undefined, state: FileState): string | undefined {
  const name = basename(state.file);
  if (state.status !== 'valid') {
    return !previous || previous.status === 'valid' || !sameContent(previous, state) ? `${name} invalid` : undefined;
  }
  if (!previous) return `${name} added`;
  if (previous.status !== 'valid') return `${name} fixed`;
  return sameContent(previous, state) ? undefined : `${name} changed`;
}

/** The services a file's state puts in effect (the last of each name), as the merge accepts them. */
function inEffect(state: FileState | undefined): Service[] {
  const byName = new Map<string, Service>();
  for (const service of state?.services ?? []) byName.set(service.name, service);
  return [...byName.values()];
}

/** The ports and service names that moved between `before` and `after`, with the files' lines. */
function changeOf(before: readonly Service[], after: readonly Service[], files: string[]): Change {
  const oldPorts = mergeRanges(before.flatMap((s) => s.ports));
  const newPorts = mergeRanges(after.flatMap((s) => s.ports));
  const oldNames = new Set(before.map((s) => s.name));
  const newNames = new Set(after.map((s) => s.name));
  return {
    added: subtractRanges(newPorts, oldPorts),
    removed: subtractRanges(oldPorts, newPorts),
    files,
    servicesAdded: [...newNames].filter((n) => !oldNames.has(n)).sort(),
    servicesRemoved: [...oldNames].filter((n) => !newNames.has(n)).sort(),
  };
}

/** The same description from the merge's delta: only the files it names (no other file touches their ports or names). */
function describeDelta(delta: SnapshotDelta): Change {
  const files: string[] = [];
  for (const f of delta.files) {
    const line = f.after ? describeFile(f.before, f.after) : `${basename(f.file)} removed`;
    if (line !== undefined) files.push(line);
  }
  return changeOf(delta.files.flatMap((f) => inEffect(f.before)), delta.files.flatMap((f) => inEffect(f.after)), files);
}

/** `delta`: what the incremental merge knows changed against `before` (then only those files are looked at). */
export function describeChange(
  before: { services: readonly Service[]; files: readonly FileState[] } | undefined,
  after: { services: readonly Service[]; files: readonly FileState[] },
  delta?: SnapshotDelta,
): Change {
  if (delta && before) return describeDelta(delta);
  const oldFiles = new Map((before?.files ?? []).map((f) => [f.file, f]));
  const newFiles = new Map(after.files.map((f) => [f.file, f]));
  const files: string[] = [];
  for (const [file, state] of newFiles) {
    const line = describeFile(oldFiles.get(file), state);
    if (line !== undefined) files.push(line);
  }
  for (const file of oldFiles.keys()) if (!newFiles.has(file)) files.push(`${basename(file)} removed`);
  return changeOf(before?.services ?? [], after.services, files);
}

/** At most `max` items, then how many more: a start-up with 20,000 drop-ins must not make a 400 KB log line. */
export function firstOf(items: readonly string[], max: number): string[] {
  return items.length > max ? [...items.slice(0, max), `+${items.length - max} more`] : [...items];
}

/** "3000,8080-8089", at most `maxRanges` ranges, then how many more. */
export function formatRangesCapped(ranges: readonly PortRange[], maxRanges: number): string {
  const shown = formatRanges(ranges.slice(0, maxRanges));
  return ranges.length > maxRanges ? `${shown} (+${ranges.length - maxRanges} more)` : shown;
}

/** How many files and port ranges a change's one-line summary names (the full lists are in the status). */
export const SUMMARY_FILES = 5;
export const SUMMARY_RANGES = 10;

/** "ports +3000 -8080 (frontend.yaml added, api.yaml removed)"; "no port change (x.yaml invalid)"; long lists cut to their first few. */
export function formatChange(change: Change): string {
  const parts: string[] = [];
  const list = (ranges: readonly PortRange[], sign: string): string => {
    const shown = formatRanges(ranges.slice(0, SUMMARY_RANGES)).split(',').map((r) => `${sign}${r}`).join(' ');
    return ranges.length > SUMMARY_RANGES ? `${shown} (+${ranges.length - SUMMARY_RANGES} more)` : shown;
  };
  if (change.added.length > 0) parts.push(list(change.added, '+'));
  if (change.removed.length > 0) parts.push(list(change.removed, '-'));
  const head = parts.length > 0 ? `ports ${parts.join(' ')}` : 'no port change';
  return change.files.length > 0 ? `${head} (${firstOf(change.files, SUMMARY_FILES).join(', ')})` : head;
}
