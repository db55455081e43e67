// Event-loop delay as coral_agent_nodejs_eventloop_lag_*_seconds: sampled once a second, net of the sampling interval, never a sentinel or NaN.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import client from 'prom-client';
import type { Registry } from './create-registry.js';

/** One wake-up a second keeps an idle agent idle; a stall longer than this is always seen. */
export const LAG_SAMPLE_MS = 1000;

/** The names prom-client's default collector uses, which this module replaces. */
export const LAG_METRIC_NAMES = ['lag', 'lag_min', 'lag_max', 'lag_mean', 'lag_stddev', 'lag_p50', 'lag_p90', 'lag_p99']
  .map((n) => `nodejs_eventloop_${n}_seconds`);

export interface LagWindow {
  min: number;
  max: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
}

/**
 * Node's delay histogram records the time between two wake-ups of its timer, that is the
 * resolution plus the delay: the delay is what is left after taking the resolution away (never
 * below 0). An empty histogram (no wake-up since the last read) has no window: its min is
 * 2^63-1 ns and its mean NaN, so it yields undefined and the caller keeps the previous window.
 */
export function lagWindow(h: Pick<IntervalHistogram, 'count' | 'min' | 'max' | 'mean' | 'stddev' | 'percentile'>, sampleMs: number): LagWindow | undefined {
  if (h.count === 0) return undefined;
  const offsetNs = sampleMs * 1e6;
  const net = (ns: number): number => (Number.isFinite(ns) ? Math.max(ns - offsetNs, 0) / 1e9 : 0);
  return {
    min: net(h.min),
    max: net(h.max),
    mean: net(h.mean),
    stddev: Number.isFinite(h.stddev) ? h.stddev / 1e9 : 0,
    p50: net(h.percentile(50)),
    p90: net(h.percentile(90)),
    p99: net(h.percentile(99)),
  };
}

/** Registers the lag gauges on `registry` (with `prefix`) and starts sampling; the timer does not keep the process alive. */
export function registerEventLoopLag(registry: Registry, prefix: string, sampleMs = LAG_SAMPLE_MS): void {
  const histogram = monitorEventLoopDelay({ resolution: sampleMs });
  histogram.enable();
  const registers = [registry];
  let window: LagWindow = { min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 };
  let lastLagSeconds = 0;
  const samples = new client.Counter({
    name: `${prefix}nodejs_eventloop_lag_samples_total`,
    help: `Event-loop delay samples taken (one every ${sampleMs / 1000} s); the lag_* gauges describe those since the previous scrape that had any.`,
    registers,
  });
  const gauge = (name: string, help: string, value: () => number): void => {
    new client.Gauge({ name: `${prefix}nodejs_eventloop_${name}_seconds`, help, registers, collect() { this.set(value()); } });
  };
  // Registered first, so its collect refreshes the window before the other gauges read it.
  new client.Gauge({
    name: `${prefix}nodejs_eventloop_lag_seconds`,
    help: 'Time a callback queued at the previous scrape waited for the event loop.',
    registers,
    collect() {
      const next = lagWindow(histogram, sampleMs);
      if (next) {
        samples.inc(histogram.count);
        window = next;
        histogram.reset();
      }
      this.set(lastLagSeconds);
      const start = process.hrtime.bigint();
      setImmediate(() => { lastLagSeconds = Number(process.hrtime.bigint() - start) / 1e9; });
    },
  });
  gauge('lag_min', 'Smallest event-loop delay seen in the window.', () => window.min);
  gauge('lag_max', 'Largest event-loop delay seen in the window.', () => window.max);
  gauge('lag_mean', 'Mean event-loop delay in the window.', () => window.mean);
  gauge('lag_stddev', 'Standard deviation of the event-loop delay in the window.', () => window.stddev);
  gauge('lag_p50', 'Median event-loop delay in the window.', () => window.p50);
  gauge('lag_p90', '90th percentile of the event-loop delay in the window.', () => window.p90);
  gauge('lag_p99', '99th percentile of the event-loop delay in the window.', () => window.p99);
}
