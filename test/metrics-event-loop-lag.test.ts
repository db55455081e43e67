// coral_agent_nodejs_eventloop_lag_*: the delay net of the sampling interval, and no 2^63-1 ns sentinel or NaN when scrapes come close together.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createRegistry } from '../src/metrics/index.js';
import { lagWindow } from '../src/metrics/event-loop-lag.js';

const LAG_SERIES = /^coral_agent_nodejs_eventloop_lag_(\w+_)?seconds (\S+)$/gm;

function lagValues(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(LAG_SERIES)].map((m) => [m[1] ? m[1].slice(0, -1) : 'lag', m[2]!]));
}

const samplesOf = (text: string): number => Number(/^coral_agent_nodejs_eventloop_lag_samples_total (\S+)$/m.exec(text)?.[1] ?? NaN);

test('two scrapes in a row, before any sample and between samples, give finite lags in seconds', async () => {
  const registry = createRegistry();
  for (const text of [await registry.metrics(), await registry.metrics()]) {
    const values = lagValues(text);
    assert.deepEqual(Object.keys(values).sort(), ['lag', 'max', 'mean', 'min', 'p50', 'p90', 'p99', 'stddev']);
    for (const [name, value] of Object.entries(values)) {
      const n = Number(value);
      assert.ok(Number.isFinite(n) && n >= 0 && n < 60, `lag_${name} is ${value}`);
    }
  }
});

test('an idle agent sampled once a second reports milliseconds of lag, not the 1 s sampling interval', async () => {
  const registry = createRegistry();
  // Each scrape takes the window since the previous one; wait until it holds two samples.
  const deadline = Date.now() + 20_000;
  let text = await registry.metrics();
  let samples = samplesOf(text);
  while (!(samples >= 2)) {
    assert.ok(Date.now() < deadline, `no two event-loop samples within 20 s (have ${samples})`);
    await delay(100);
    text = await registry.metrics();
    samples = samplesOf(text);
  }
  const values = lagValues(text);
  // The test process is mostly idle: its delays are far below the interval the old figures carried.
  assert.ok(Number(values.mean) < 0.5, `mean lag ${values.mean} s`);
  assert.ok(Number(values.min) < 0.5, `min lag ${values.min} s`);
  assert.ok(Number(values.min) <= Number(values.mean) && Number(values.mean) <= Number(values.max), JSON.stringify(values));
});

test('lagWindow: the resolution is taken away, an empty window is none, a short interval is 0', () => {
  const histogram = (count: number, ns: Record<string, number>, percentiles: Record<number, number> = {}) => ({
    count, min: ns.min!, max: ns.max!, mean: ns.mean!, stddev: ns.stddev!, percentile: (p: number) => percentiles[p] ?? NaN,
  });
  assert.equal(lagWindow(histogram(0, { min: 9223372036854775807, max: 0, mean: NaN, stddev: NaN }), 1000), undefined);
  assert.deepEqual(lagWindow(histogram(3, { min: 999_500_000, max: 1_250_000_000, mean: 1_002_000_000, stddev: 4_000_000 }, { 50: 1_001_000_000, 90: 1_100_000_000, 99: 1_250_000_000 }), 1000),
    { min: 0, max: 0.25, mean: 0.002, stddev: 0.004, p50: 0.001, p90: 0.1, p99: 0.25 });
});
