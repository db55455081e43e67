// Seed and run counts for the fuzz tests (FUZZ_SEED, FUZZ_RUNS), and running one property with its case count printed.
import fc from 'fast-check';

/** The seed CI uses, so a red run is reproducible; FUZZ_SEED overrides it. */
export const DEFAULT_FUZZ_SEED = 424_242;

export interface FuzzConfig {
  seed: number;
  /** Multiplies every property's default number of cases (FUZZ_RUNS=10 runs ten times as many). */
  scale: number;
}

/** Reads FUZZ_SEED (an integer) and FUZZ_RUNS (a positive scale factor, e.g. 0.1 or 20). */
export function fuzzConfig(env: NodeJS.ProcessEnv = process.env): FuzzConfig {
  const seedText = env.FUZZ_SEED?.trim();
  const seed = seedText ? Number(seedText) : DEFAULT_FUZZ_SEED;
  if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, not "${seedText}"`);
  const scaleText = env.FUZZ_RUNS?.trim();
  const scale = scaleText ? Number(scaleText) : 1;
  if (!Number.isFinite(scale) || scale <= 0) throw new Error(`FUZZ_RUNS must be a positive number, not "${scaleText}"`);
  return { seed: seed | 0, scale };
}

export interface CaseLog {
  /** Called by node:test's `t.diagnostic`, so counts show in the test report. */
  diagnostic(message: string): void;
}

export interface RunPropertyOptions<T> {
  name: string;
  property: fc.IProperty<T>;
  /** Cases at FUZZ_RUNS=1. */
  runs: number;
  config: FuzzConfig;
  log: CaseLog;
}

/** fc.assert with the shared seed and scaled run count; returns the number of cases run and prints it. */
export function runProperty<T>(opts: RunPropertyOptions<T>): number {
  const numRuns = Math.max(1, Math.round(opts.runs * opts.config.scale));
  const startedMs = performance.now();
  fc.assert(opts.property, { seed: opts.config.seed, numRuns, includeErrorInReport: true });
  const tookMs = Math.round(performance.now() - startedMs);
  opts.log.diagnostic(`${opts.name}: ${numRuns} cases, ${tookMs} ms (seed ${opts.config.seed})`);
  return numRuns;
}

/** Whether the generators' coverage is asserted: only at full size, where each case class is certain to appear. */
export function checksCoverage(config: FuzzConfig): boolean {
  return config.scale >= 1;
}
