// Every timing of the Beyla lifecycle and its driver, with the production defaults in one place.
import { DEFAULT_CRASH_POLICY, type CrashPolicyOptions } from './crash-policy.js';

/** Timings with production defaults; tests shrink them. */
export interface SupervisorTiming extends CrashPolicyOptions {
  /** How often a missing binary is looked for again. Default 30 s. */
  binaryRecheckMs: number;
  /** Added to shutdown_timeout before SIGKILL. Default 2 s. */
  stopMarginMs: number;
  /** First retry of a failed swap; doubles up to swapRetryMaxMs. Defaults 1 s and 30 s. */
  swapRetryInitialMs: number;
  swapRetryMaxMs: number;
  /** Deadline of one scrape of the active instance. Default 2 s. */
  scrapeTimeoutMs: number;
  /**
   * How long a text fetched from the active instance is served again to further scrapes. Default
   * 250 ms: bounds what a flood of scrapes costs Beyla (4 requests a second) and stays below any
   * scrape interval, so one Prometheus never gets the same text twice.
   */
  scrapeReuseMs: number;
  /** Pause between two liveness probes of the active instance's /healthz. Default 5 s. */
  livenessIntervalMs: number;
  /** Consecutive failed liveness probes that mean the active instance is hung. Default 3. */
  livenessFailures: number;
  /** Deadline of one liveness probe. Default 1 s. */
  livenessTimeoutMs: number;
}

export const DEFAULT_TIMING: SupervisorTiming = {
  ...DEFAULT_CRASH_POLICY,
  binaryRecheckMs: 30_000,
  stopMarginMs: 2000,
  swapRetryInitialMs: 1000,
  swapRetryMaxMs: 30_000,
  scrapeTimeoutMs: 2000,
  scrapeReuseMs: 250,
  livenessIntervalMs: 5000,
  livenessFailures: 3,
  livenessTimeoutMs: 1000,
};

/** The defaults with the given overrides (undefined values ignored). */
export function resolveTiming(overrides: Partial<SupervisorTiming> = {}): SupervisorTiming {
  const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as Partial<SupervisorTiming>;
  return { ...DEFAULT_TIMING, ...given };
}
