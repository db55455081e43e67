// Pure counter continuity: offsets carried from one Beyla generation to the next, and an exposition with them added.
import { isCumulativeSample, parseSampleLine, parseTypeLine, type FamilyType } from './exposition-samples.js';

/** What is added to one cumulative series of the current generation. */
export interface OffsetEntry {
  /** Added to the instance's raw value. */
  offset: number;
  /** The value served at the swap: never serve less (guards float rounding in `raw + offset`). */
  floor: number;
  /** Since when the current instance has not exported this series (null while it does). */
  absentSinceMs: number | null;
}

export type Offsets = ReadonlyMap<string, OffsetEntry>;

export interface ContinuityLimits {
  /** Most series kept while the current instance does not export them; the longest absent go first. */
  maxPending: number;
  /** A series absent this long is forgotten (it would then restart from the instance's raw value). */
  pendingTtlMs: number;
}

export const DEFAULT_CONTINUITY_LIMITS: ContinuityLimits = { maxPending: 10_000, pendingTtlMs: 3_600_000 };

/** Cumulative series of an exposition by key (see isCumulativeSample). */
export function cumulativeValues(text: string): Map<string, number> {
  const types = new Map<string, FamilyType>();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) {
      const declared = parseTypeLine(line);
      if (declared) types.set(declared.family, declared.type);
      continue;
    }
    const sample = parseSampleLine(line);
    if (sample && isCumulativeSample(sample.name, types)) values.set(sample.key, sample.value);
  }
  return values;
}

function prune(offsets: Map<string, OffsetEntry>, nowMs: number, limits: ContinuityLimits): Map<string, OffsetEntry> {
  const pending: Array<[string, number]> = [];
  for (const [key, entry] of offsets) {
    if (entry.absentSinceMs === null) continue;
    if (nowMs - entry.absentSinceMs > limits.pendingTtlMs) offsets.delete(key);
    else pending.push([key, entry.absentSinceMs]);
  }
  if (pending.length > limits.maxPending) {
    pending.sort((a, b) => a[1] - b[1]);
    for (const [key] of pending.slice(0, pending.length - limits.maxPending)) offsets.delete(key);
  }
  return offsets;
}

export interface CarryInput {
  /** The old instance's raw exposition (its `offsets` not yet added). */
  old: string;
  /** The new instance's raw exposition; '' when it is not known yet (every series starts pending). */
  next: string;
  /** The offsets the old instance was served with. */
  offsets: Offsets;
  /**
   * true: both instances ran and observed the same events since the new one started (a
   * make-before-break swap; scrapes taken together). false: the old one had stopped before the
   * new one started (a crash), so everything the new one counted is new.
   */
  overlapped: boolean;
  nowMs: number;
  limits?: ContinuityLimits;
}

/**
 * The offsets for the new instance, so that what is served continues from what the old one
 * served: for a series both export, `served old - new` (overlapped) or `served old` (not); for one
 * only the old exports, `served old` until the new one exports it (pending, bounded, expiring);
 * series only the new one exports pass through; pending offsets from earlier swaps carry on.
 */
export function carryOffsets(input: CarryInput): Offsets {
  const limits = input.limits ?? DEFAULT_CONTINUITY_LIMITS;
  const oldValues = cumulativeValues(input.old);
  const newValues = cumulativeValues(input.next);
  const result = new Map<string, OffsetEntry>();
  for (const [key, raw] of oldValues) {
    const before = input.offsets.get(key);
    const served = before ? Math.max(raw + before.offset, before.floor) : raw;
    if (!Number.isFinite(served)) continue;
    const now = newValues.get(key);
    if (now === undefined) {
      result.set(key, { offset: served, floor: served, absentSinceMs: input.nowMs });
    } else if (!input.overlapped) {
      result.set(key, { offset: served, floor: served, absentSinceMs: null });
    } else if (Number.isFinite(now) && served !== now) {
      result.set(key, { offset: served - now, floor: served, absentSinceMs: null });
    }
  }
  for (const [key, entry] of input.offsets) {
    if (oldValues.has(key)) continue;
    // The old instance never exported it, so it saw none of it: whatever the new one counted is genuine.
    result.set(key, newValues.has(key) ? { ...entry, absentSinceMs: null } : entry);
  }
  return prune(result, input.nowMs, limits);
}

export interface ApplyInput {
  /** The current instance's raw exposition. */
  text: string;
  offsets: Offsets;
  nowMs: number;
  limits?: ContinuityLimits;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/**
 * `text` with each cumulative series' offset added (at least its floor; NaN and ±Inf as they are),
 * every other byte untouched; and the offsets with absences noted and expired ones dropped
 * (the same Map when nothing changed).
 */
export function applyOffsets(input: ApplyInput): { text: string; offsets: Offsets } {
  const limits = input.limits ?? DEFAULT_CONTINUITY_LIMITS;
  if (input.offsets.size === 0) return { text: input.text, offsets: input.offsets };
  const types = new Map<string, FamilyType>();
  const present = new Set<string>();
  const lines = input.text.split('\n');
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index] ?? '';
    if (line.startsWith('#')) {
      const declared = parseTypeLine(line);
      if (declared) types.set(declared.family, declared.type);
      continue;
    }
    const sample = parseSampleLine(line);
    if (!sample || !isCumulativeSample(sample.name, types)) continue;
    const entry = input.offsets.get(sample.key);
    if (!entry) continue;
    present.add(sample.key);
    if (!Number.isFinite(sample.value)) continue;
    const served = Math.max(sample.value + entry.offset, entry.floor);
    lines[index] = line.slice(0, sample.valueStart) + formatValue(served) + line.slice(sample.valueEnd);
  }
  let changed: Map<string, OffsetEntry> | undefined;
  for (const [key, entry] of input.offsets) {
    const isPresent = present.has(key);
    const expired = !isPresent && entry.absentSinceMs !== null && input.nowMs - entry.absentSinceMs > limits.pendingTtlMs;
    if (expired || (isPresent && entry.absentSinceMs !== null) || (!isPresent && entry.absentSinceMs === null)) {
      changed ??= new Map(input.offsets);
      if (expired) changed.delete(key);
      else changed.set(key, { ...entry, absentSinceMs: isPresent ? null : input.nowMs });
    }
  }
  return { text: lines.join('\n'), offsets: changed ? prune(changed, input.nowMs, limits) : input.offsets };
}
