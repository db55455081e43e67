// A real Prometheus scrapes the stable address at 1 s through 10 Beyla swaps: up at every scrape, no counter reset, every event counted once.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { createDaemonHarness, dropIn } from './support/daemon-harness.js';
import { prometheusMissing, startPrometheus, type PromSeries, type PrometheusServer } from './support/prometheus-server.js';

const EVENT_MS = 4; // the double observes 250 events a second on the shared clock
const SWAPS = 10;
const PER_SCRAPE = 1000 / EVENT_MS; // one scrape interval's worth of events
const COUNTERS = ['beyla_double_observed_events_total', ...['bucket', 'sum', 'count'].map((s) => `http_client_request_duration_seconds_${s}`)];

/** Events on the shared clock in (fromMs, toMs]. */
const trueCount = (fromMs: number, toMs: number): number => Math.floor(toMs / EVENT_MS) - Math.floor(fromMs / EVENT_MS);

const vector = async (prom: PrometheusServer, expr: string, atSec: number): Promise<PromSeries[]> => (await prom.query(expr, atSec)).result as PromSeries[];

/** Runs the daemon with continuity on or off, swaps SWAPS times under a 1 s Prometheus, and returns what Prometheus saw. */
async function runSwaps(t: TestContext, env: Record<string, string>) {
  const h = await createDaemonHarness(t, { debounce: '100ms', env: { FAKE_BEYLA_EVENTS_MS: String(EVENT_MS), ...env }, dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  await h.waitForLivePorts('3000');
  const prom = await startPrometheus(t, { targets: [`127.0.0.1:${h.metrics!.port}`] });
  await prom.waitForScrapes(3);
  const scrapes = async (): Promise<number> => Number((await vector(prom, 'count_over_time(up[1h])', Date.now() / 1000))[0]?.value?.[1]);
  const startSec = Date.now() / 1000;
  const from = h.mark();
  for (let i = 1; i <= SWAPS; i += 1) {
    const mark = h.mark();
    await h.writeDropIn(`svc-${i}.yaml`, dropIn(`svc-${i}`, 20_000 + i));
    const applied = await h.waitForReconcile(`swap ${i}`, { fromIndex: mark, deadlineMs: 30_000, match: (r) => r.result !== 'unchanged' });
    assert.equal(applied.result, 'swapped', applied.msg);
    await prom.waitForScrapes((await scrapes()) + 1); // Prometheus sees every generation
  }
  assert.equal(h.swapsSince(from).length, SWAPS);
  await prom.waitForScrapes((await scrapes()) + 2);
  const endSec = Date.now() / 1000;
  return { h, prom, startSec, endSec };
}

test('through 10 swaps a real Prometheus sees up=1 at every scrape, resets() 0 and increase() equal to the events that happened', async (t) => {
  const missing = prometheusMissing();
  if (missing) return t.skip(missing);
  // CORAL_TEST_CONTINUITY_OFF=1 runs it with agent.metrics.continuity: false, to see it fail (resets at every swap).
  const { prom, startSec, endSec } = await runSwaps(t, process.env.CORAL_TEST_CONTINUITY_OFF ? { CORAL_METRICS_CONTINUITY: 'false' } : {});
  const window = `${Math.floor(endSec - startSec)}s`;

  const up = await vector(prom, `up[${window}]`, endSec).then((s) => s.flatMap((series) => series.values ?? []));
  assert.ok(up.length >= SWAPS, `Prometheus scraped ${up.length} times during the swaps`);
  assert.deepEqual(up.filter(([, v]) => v !== '1'), [], 'up was 1 at every scrape');

  const resets: Array<{ name: string; series: PromSeries[] }> = [];
  for (const name of COUNTERS) resets.push({ name, series: await vector(prom, `resets(${name}[${window}])`, endSec) });
  const resetCount = resets.reduce((n, r) => n + r.series.reduce((m, s) => m + Number(s.value?.[1]), 0), 0);

  // Raw samples: every step between two scrapes is what happened on the shared clock between them.
  const samples = (await vector(prom, `beyla_double_observed_events_total[${window}]`, endSec))[0]?.values ?? [];
  let worst = 0;
  for (let i = 1; i < samples.length; i += 1) {
    const [t0, v0] = samples[i - 1]!;
    const [t1, v1] = samples[i]!;
    const error = Number(v1) - Number(v0) - trueCount(t0 * 1000, t1 * 1000);
    worst = Math.max(worst, Math.abs(error));
  }
  const [firstAt, firstValue] = samples[0]!;
  const [lastAt, lastValue] = samples.at(-1)!;
  const total = trueCount(firstAt * 1000, lastAt * 1000);
  const counted = Number(lastValue) - Number(firstValue);
  const increase = Number((await vector(prom, `increase(beyla_double_observed_events_total[${window}])`, endSec))[0]?.value?.[1]);
  const happened = trueCount(endSec * 1000 - Number.parseInt(window, 10) * 1000, endSec * 1000);
  t.diagnostic(`swaps ${SWAPS}, scrapes ${up.length}, resets ${resetCount}, events ${total}, last-first sample ${counted}, worst step error ${worst}, increase() ${increase.toFixed(1)} vs ${happened} in the window`);

  for (const { name, series } of resets) {
    assert.equal(series.length, name.endsWith('_bucket') ? 3 : 1, `${name}: every series is there`);
    assert.deepEqual(series.filter((s) => s.value?.[1] !== '0').map((s) => [s.metric, s.value]), [], `${name}: no series was reset`);
  }
  assert.ok(Math.abs(counted - total) <= PER_SCRAPE, `counted ${counted} events over the run, ${total} happened (worst step off by ${worst})`);
  assert.ok(worst <= PER_SCRAPE, `a step between two scrapes was off by ${worst} events`);
  assert.ok(Math.abs(increase - happened) <= PER_SCRAPE, `increase() ${increase.toFixed(1)} vs ${happened} events in the window`);
});
