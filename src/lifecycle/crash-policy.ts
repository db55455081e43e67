// Restart bookkeeping for an active Beyla that crashes: exponential backoff, and a circuit that opens after too many crashes.

export interface CrashPolicyOptions {
  /** First restart delay; doubles per consecutive crash. Default 1 s. */
  initialBackoffMs: number;
  /** Cap on the restart delay. Default 30 s. */
  maxBackoffMs: number;
  /** Crashes within `circuitWindowMs` that open the circuit. Default 5. */
  circuitCrashes: number;
  /** Default 5 min. */
  circuitWindowMs: number;
  /** Restart delay while the circuit is open. Default 60 s. */
  degradedRetryMs: number;
  /** An instance that runs this long resets the count and closes the circuit. Default 10 min. */
  stableResetMs: number;
}

export const DEFAULT_CRASH_POLICY: CrashPolicyOptions = {
  initialBackoffMs: 1000,
  maxBackoffMs: 30_000,
  circuitCrashes: 5,
  circuitWindowMs: 5 * 60_000,
  degradedRetryMs: 60_000,
  stableResetMs: 10 * 60_000,
};

/** `initialMs` doubling per attempt (1-based) up to `maxMs`. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
}

export interface CrashDecision {
  /** Wait this long before restarting. */
  delayMs: number;
  /** True when this crash opened the circuit. */
  opened: boolean;
}

/** Crash history: a plain value, so the lifecycle can carry it in its state. */
export interface CrashRecord {
  consecutive: number;
  /** Times of the crashes inside the circuit window, oldest first. */
  times: readonly number[];
  circuitOpen: boolean;
}

export const NO_CRASHES: CrashRecord = { consecutive: 0, times: [], circuitOpen: false };

/** The record after one more crash at `now`, and how long to wait before restarting. */
export function addCrash(record: CrashRecord, now: number, o: CrashPolicyOptions): CrashDecision & { record: CrashRecord } {
  const times = [...record.times.filter((t) => now - t < o.circuitWindowMs), now];
  const consecutive = record.consecutive + 1;
  const circuitOpen = record.circuitOpen || times.length >= o.circuitCrashes;
  const delayMs = circuitOpen ? o.degradedRetryMs : backoffMs(consecutive, o.initialBackoffMs, o.maxBackoffMs);
  return { record: { consecutive, times, circuitOpen }, delayMs, opened: circuitOpen && !record.circuitOpen };
}

/** The same bookkeeping as a small mutable object. */
export class CrashPolicy {
  readonly options: CrashPolicyOptions;
  private record: CrashRecord = NO_CRASHES;

  constructor(options: Partial<CrashPolicyOptions> = {}) {
    this.options = { ...DEFAULT_CRASH_POLICY, ...options };
  }

  get consecutive(): number {
    return this.record.consecutive;
  }

  get circuitOpen(): boolean {
    return this.record.circuitOpen;
  }

  recordCrash(now: number): CrashDecision {
    const { record, ...decision } = addCrash(this.record, now, this.options);
    this.record = record;
    return decision;
  }

  /** Whether an instance started at `startedAt` has run long enough to forget past crashes. */
  isStable(startedAt: number, now: number): boolean {
    return now - startedAt >= this.options.stableResetMs;
  }

  reset(): void {
    this.record = NO_CRASHES;
  }
}
