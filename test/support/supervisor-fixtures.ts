// Shared pieces of the Beyla supervisor tests: settings for the double, desired states, waiting, metric samples.
import { setTimeout as delay } from 'node:timers/promises';
import type { BeylaSettings } from '../../src/config/types.js';
import type { DesiredState } from '../../src/plan/types.js';
import { beylaDoublePath } from '../beyla-double/beyla-double-path.js';

/** Beyla settings that run the test double with short test timings. */
export function settings(overrides: Partial<BeylaSettings> = {}): BeylaSettings {
  return {
    enabled: true,
    binary: beylaDoublePath(),
    debounceMs: 0,
    maxWaitMs: 0,
    readiness: { timeoutMs: 5000, minUptimeMs: 300, requireInstrumented: false },
    shutdownTimeoutMs: 1000,
    whenEmpty: 'stop',
    config: {},
    env: {},
    ...overrides,
  };
}

/** One ports-only selector per port. */
export function desired(...ports: number[]): DesiredState {
  const ranges = ports.map((port) => ({ from: port, to: port }));
  return { services: [], ports: ranges, selectors: ranges.map((range, index) => ({ services: [`svc${index}`], openPorts: [range] })) };
}

/** Polls `check` every 25 ms until it returns a truthy value, or throws at the deadline. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(25);
  }
}

/** The value of one exact sample (`name{labels}`) in a Prometheus text, or undefined. */
export function metricValue(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}
