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

export class CrashPolicy {
  readonly options: CrashPolicyOptions;
  consecutive = 0;
  circuitOpen = false;
  private crashTimes: number[] = [];

  constructor(options: Partial<CrashPolicyOptions> = {}) {
    this.options = { ...DEFAULT_CRASH_POLICY, ...options };
  }

  recordCrash(now: number): CrashDecision {
    const o = this.options;
    this.consecutive += 1;
    this.crashTimes = [...this.crashTimes.filter((t) => now - t < o.circuitWindowMs), now];
    const wasOpen = this.circuitOpen;
    if (this.crashTimes.length >= o.circuitCrashes) this.circuitOpen = true;
    const delayMs = this.circuitOpen ? o.degradedRetryMs : backoffMs(this.consecutive, o.initialBackoffMs, o.maxBackoffMs);
    return { delayMs, opened: this.circuitOpen && !wasOpen };
  }

  /** Whether an instance started at `startedAt` has run long enough to forget past crashes. */
  isStable(startedAt: number, now: number): boolean {
    return now - startedAt >= this.options.stableResetMs;
  }

  reset(): void {
    this.consecutive = 0;
    this.circuitOpen = false;
    this.crashTimes = [];
  }
}
