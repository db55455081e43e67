// How many runs a steady stream of changes causes: one per max_wait, plus one per pause of a debounce (the load test's swap bound is built on this).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Reconciler } from '../src/reconcile/reconciler.js';
import { captureLogger } from './support/capture-logger.js';

const DEBOUNCE_MS = 2000;
const MAX_WAIT_MS = 30_000;

/** Triggers every `everyMs` for `durationMs` (none inside `pauses`), on mocked timers; returns the run start times. */
async function stream(t: TestContext, opts: { durationMs: number; everyMs: number; pauses: Array<[number, number]> }): Promise<number[]> {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let clock = 0;
  const starts: number[] = [];
  const abort = new AbortController();
  const reconciler = new Reconciler<void>({
    deps: { run: async () => { starts.push(clock); } },
    debounceMs: DEBOUNCE_MS,
    maxWaitMs: MAX_WAIT_MS,
    logger: captureLogger().logger,
    signal: abort.signal,
    now: () => clock,
  });
  const flush = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  };
  const paused = (at: number): boolean => opts.pauses.some(([from, length]) => at > from && at < from + length);
  for (let at = 0; at <= opts.durationMs + DEBOUNCE_MS * 2; at += 100) {
    if (at > clock) {
      t.mock.timers.tick(at - clock);
      clock = at;
    }
    await flush();
    if (at <= opts.durationMs && at % opts.everyMs === 0 && !paused(at)) reconciler.trigger(`change at ${at}`);
    await flush();
  }
  await reconciler.close();
  abort.abort();
  return starts;
}

const oldBound = (durationMs: number): number => Math.ceil(durationMs / MAX_WAIT_MS) + 1;

test('a steady stream of changes runs once per max_wait (the next window opens at the first change after a run starts)', async (t) => {
  const starts = await stream(t, { durationMs: 120_000, everyMs: 400, pauses: [] });
  assert.deepEqual(starts, [30_000, 60_400, 90_800, 121_200]);
  assert.ok(starts.length <= oldBound(120_000));
});

test('a pause of a whole debounce in the stream ends the debounce early: exactly one run more', async (t) => {
  const starts = await stream(t, { durationMs: 120_000, everyMs: 400, pauses: [[50_000, 2400]] });
  assert.deepEqual(starts, [30_000, 52_000, 82_400, 112_800, 122_000]);
  assert.ok(starts.length > oldBound(120_000) - 1);
});

test('three pauses: more runs than max_wait alone allows, never more than one per pause beyond it', async (t) => {
  const starts = await stream(t, { durationMs: 120_000, everyMs: 400, pauses: [[10_000, 2400], [20_000, 2400], [40_000, 2400]] });
  assert.deepEqual(starts, [12_000, 22_000, 42_000, 72_400, 102_800, 122_000]);
  assert.ok(starts.length > oldBound(120_000), 'the bound the load test used (max_wait alone) does not hold once the writes pause');
  assert.ok(starts.length <= oldBound(120_000) + 3);
});

test('a pause shorter than the debounce changes nothing', async (t) => {
  const starts = await stream(t, { durationMs: 120_000, everyMs: 400, pauses: [[50_000, 1800]] });
  assert.deepEqual(starts, [30_000, 60_400, 90_800, 121_200]);
});
