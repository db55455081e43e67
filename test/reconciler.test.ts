// Unit tests of the reconcile worker with a controllable fake run: coalescing, debounce, maxWait, ordering, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { CoralError } from '../src/errors.js';
import { Reconciler, type ReconcileContext } from '../src/reconcile/reconciler.js';
import { captureLogger } from './support/capture-logger.js';

const DEADLINE_MS = 5000;

async function withDeadline<T>(promise: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

/** A run whose calls are recorded, which can be held at a gate, and which can be made to fail. */
class FakeRun {
  readonly calls: ReconcileContext[] = [];
  inFlight = 0;
  maxInFlight = 0;
  finished = 0;
  gate: { promise: Promise<void>; resolve: () => void } | undefined;
  failWith: Error | undefined;
  private callWaiters: Array<{ n: number; resolve: () => void }> = [];

  readonly run = async (ctx: ReconcileContext): Promise<number> => {
    this.calls.push(ctx);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    for (const w of this.callWaiters.filter((x) => this.calls.length >= x.n)) w.resolve();
    try {
      if (this.gate) await this.gate.promise;
      // Yield a few turns so a broken worker would get the chance to start an overlapping run.
      for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
      if (this.failWith) throw this.failWith;
      return ctx.id;
    } finally {
      this.inFlight--;
      this.finished++;
    }
  };

  waitForCalls(n: number): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve();
    return withDeadline(new Promise<void>((resolve) => this.callWaiters.push({ n, resolve })), `run #${n}`);
  }
}

/**
 * Date.now, except that it stands still between pause() and resume(). "Triggers within one
 * debounce window" is a statement about the clock: on a loaded machine the process can be
 * descheduled for longer than the debounce in the middle of a loop of triggers, and the reconciler
 * then rightly runs early. Pausing the clock while they arrive keeps the test about the logic.
 */
function pausableClock(): { now: () => number; pause: () => void; resume: () => void } {
  let pausedAt: number | undefined;
  return {
    now: () => pausedAt ?? Date.now(),
    pause: () => { pausedAt = Date.now(); },
    resume: () => { pausedAt = undefined; },
  };
}

function setUp(
  t: { after: (fn: () => Promise<void>) => void },
  timing: { debounceMs: number; maxWaitMs: number; now?: () => number },
) {
  const fake = new FakeRun();
  const controller = new AbortController();
  const log = captureLogger();
  const reconciler = new Reconciler<number>({
    deps: { run: fake.run },
    ...timing,
    logger: log.logger,
    signal: controller.signal,
  });
  t.after(async () => {
    fake.gate?.resolve();
    await reconciler.close();
  });
  return { fake, reconciler, controller, log };
}

test('100 triggers within one debounce window produce exactly one run carrying every reason', async (t) => {
  const clock = pausableClock();
  const { fake, reconciler } = setUp(t, { debounceMs: 30, maxWaitMs: 60_000, now: clock.now });
  clock.pause();
  for (let i = 0; i < 100; i++) reconciler.trigger(`event ${i}`);
  clock.resume();
  await withDeadline(reconciler.idle(), 'idle');
  assert.equal(fake.calls.length, 1);
  assert.equal(reconciler.runs, 1);
  assert.equal(fake.calls[0]?.reasons.length, 100);
  assert.equal(fake.calls[0]?.reasons[99], 'event 99');
  assert.equal(fake.calls[0]?.reason, 'event 0, event 1, event 2, event 3, event 4 (+95 more)');
});

test('duplicate reasons are merged', async (t) => {
  const clock = pausableClock();
  const { fake, reconciler } = setUp(t, { debounceMs: 10, maxWaitMs: 60_000, now: clock.now });
  clock.pause();
  for (let i = 0; i < 10; i++) reconciler.trigger('resync');
  reconciler.trigger('change web.yaml');
  clock.resume();
  await withDeadline(reconciler.idle(), 'idle');
  assert.deepEqual(fake.calls[0]?.reasons, ['resync', 'change web.yaml']);
});

test('triggers during a run merge into exactly one follow-up run after it', async (t) => {
  const { fake, reconciler } = setUp(t, { debounceMs: 5, maxWaitMs: 60_000 });
  fake.gate = deferred();
  reconciler.trigger('first');
  await fake.waitForCalls(1);
  reconciler.trigger('during a');
  reconciler.trigger('during b');
  reconciler.trigger('during c');
  // Hold the run past the debounce so a worker that ignored the in-flight run would start another.
  await delay(20);
  fake.gate.resolve();
  await withDeadline(reconciler.idle(), 'idle');
  assert.equal(fake.calls.length, 2);
  assert.deepEqual(fake.calls[1]?.reasons, ['during a', 'during b', 'during c']);
  assert.equal(fake.maxInFlight, 1);
});

test('maxWait caps the postponement of a steady stream of triggers', async (t) => {
  // Triggers every debounce/2: the debounce alone would postpone the run for as long as the
  // stream lasts; maxWait forces runs during it.
  const { fake, reconciler } = setUp(t, { debounceMs: 60, maxWaitMs: 150 });
  for (let i = 0; i < 20; i++) {
    reconciler.trigger(`tick ${i}`);
    await delay(30);
  }
  const runsDuringStream = fake.calls.length;
  await withDeadline(reconciler.idle(), 'idle');
  assert.ok(runsDuringStream >= 2, `expected runs during a stream 4x longer than maxWait, got ${runsDuringStream}`);
  const seen = fake.calls.flatMap((c) => c.reasons);
  assert.equal(seen.length, 20, 'every trigger is carried by exactly one run');
  assert.equal(new Set(seen).size, 20);
});

test('triggerNow during a debounce runs at once and takes the pending reasons with it', async (t) => {
  const { fake, reconciler } = setUp(t, { debounceMs: 60_000, maxWaitMs: 120_000 });
  reconciler.trigger('change web.yaml');
  const result = await withDeadline(reconciler.triggerNow('reload'), 'triggerNow');
  assert.equal(result, 1);
  assert.deepEqual(fake.calls[0]?.reasons, ['change web.yaml', 'reload']);
  // The debounced run was cancelled: nothing is pending (idle does not wait a minute).
  await withDeadline(reconciler.idle(), 'idle');
  assert.equal(fake.calls.length, 1);
});

test('triggerNow during a run resolves with a run that started after the call', async (t) => {
  const { fake, reconciler } = setUp(t, { debounceMs: 60_000, maxWaitMs: 120_000 });
  fake.gate = deferred();
  const first = reconciler.triggerNow('startup');
  await fake.waitForCalls(1);
  const second = reconciler.triggerNow('reload');
  fake.gate.resolve();
  assert.equal(await withDeadline(first, 'first'), 1);
  assert.equal(await withDeadline(second, 'second'), 2);
  assert.deepEqual(fake.calls[1]?.reasons, ['reload']);
  assert.equal(fake.maxInFlight, 1);
});

test('runs never overlap and ids increase by one under interleaved triggers', async (t) => {
  const { fake, reconciler } = setUp(t, { debounceMs: 1, maxWaitMs: 5 });
  const now: Array<Promise<number>> = [];
  for (let i = 0; i < 60; i++) {
    if (i % 7 === 0) now.push(reconciler.triggerNow(`now ${i}`));
    else reconciler.trigger(`soon ${i}`);
    if (i % 3 === 0) await new Promise<void>((r) => setImmediate(r));
    // Not a wait for anything: a real pause now and then lets debounce timers fire between triggers, the interleaving under test.
    if (i % 10 === 0) await delay(2);
  }
  const results = await withDeadline(Promise.all(now), 'all triggerNow calls');
  await withDeadline(reconciler.idle(), 'idle');
  assert.equal(fake.maxInFlight, 1);
  assert.deepEqual(fake.calls.map((c) => c.id), fake.calls.map((_, i) => i + 1));
  assert.ok(fake.calls.length >= 2 && fake.calls.length < 60, `coalesced into ${fake.calls.length} runs`);
  // Each triggerNow got a run at or after its own position: results never go backwards.
  assert.deepEqual([...results].sort((a, b) => a - b), results);
  assert.equal(fake.calls.flatMap((c) => c.reasons).length, 60);
});

test('a failing run is logged, rejects its triggerNow callers, and the loop keeps running', async (t) => {
  const { fake, reconciler, log } = setUp(t, { debounceMs: 5, maxWaitMs: 50 });
  const boom = new Error('beyla refused the config');
  fake.failWith = boom;
  await assert.rejects(withDeadline(reconciler.triggerNow('reload'), 'failed run'), (error) => error === boom);
  assert.equal(reconciler.failures, 1);
  const errorLine = log.lines.find((l) => l.level === 50);
  assert.equal(errorLine?.reconcile_id, 1);
  assert.equal((errorLine?.err as { message?: string } | undefined)?.message, 'beyla refused the config');

  fake.failWith = undefined;
  reconciler.trigger('change web.yaml');
  await withDeadline(reconciler.idle(), 'idle after failure');
  assert.equal(fake.calls.length, 2);
  assert.equal(await withDeadline(reconciler.triggerNow('again'), 'run after failure'), 3);
});

test('each run gets a logger bound to its reconcile_id', async (t) => {
  const fake = new FakeRun();
  const log = captureLogger();
  const controller = new AbortController();
  const reconciler = new Reconciler<number>({
    deps: { run: async (ctx) => { ctx.logger.info({ files: 3 }, 'applied'); return fake.run(ctx); } },
    debounceMs: 0,
    maxWaitMs: 0,
    logger: log.logger,
    signal: controller.signal,
  });
  t.after(() => reconciler.close());
  await reconciler.triggerNow('one');
  await reconciler.triggerNow('two');
  const applied = log.lines.filter((l) => l.msg === 'applied');
  assert.deepEqual(applied.map((l) => l.reconcile_id), [1, 2]);
  assert.deepEqual(applied.map((l) => l.component), ['reconcile', 'reconcile']);
});

test('setTiming reschedules what is already pending', async (t) => {
  const { fake, reconciler } = setUp(t, { debounceMs: 60_000, maxWaitMs: 120_000 });
  reconciler.trigger('change web.yaml');
  reconciler.setTiming(0, 0);
  await withDeadline(reconciler.idle(), 'idle after shortening the debounce');
  assert.equal(fake.calls.length, 1);
  assert.throws(() => reconciler.setTiming(-1, 10), CoralError);
});

test('close drops the pending run, rejects waiting callers, and awaits the run in flight', async (t) => {
  const { fake, reconciler } = setUp(t, { debounceMs: 5, maxWaitMs: 50 });
  fake.gate = deferred();
  const first = reconciler.triggerNow('startup');
  await fake.waitForCalls(1);
  const queued = reconciler.triggerNow('reload');
  reconciler.trigger('change web.yaml');
  let closed = false;
  const closing = reconciler.close().then(() => { closed = true; });
  await assert.rejects(withDeadline(queued, 'queued rejection'), (error) => error instanceof CoralError && error.code === 'TEMPORARY');
  assert.equal(closed, false, 'close waits for the run in flight');
  fake.gate.resolve();
  await withDeadline(closing, 'close');
  assert.equal(fake.finished, 1);
  assert.equal(await first, 1);
  reconciler.trigger('after close');
  await assert.rejects(reconciler.triggerNow('after close'), CoralError);
  await withDeadline(reconciler.idle(), 'idle after close');
  assert.equal(fake.calls.length, 1);
});

test('aborting the signal stops the reconciler', async (t) => {
  const { fake, reconciler, controller } = setUp(t, { debounceMs: 60_000, maxWaitMs: 120_000 });
  reconciler.trigger('change web.yaml');
  const waiting = reconciler.triggerNow('reload');
  controller.abort();
  // triggerNow started a run synchronously; abort came after, so that run completes.
  assert.equal(await withDeadline(waiting, 'run started before abort'), 1);
  await withDeadline(reconciler.idle(), 'idle');
  reconciler.trigger('late');
  await withDeadline(reconciler.idle(), 'idle');
  assert.equal(fake.calls.length, 1);
  assert.equal(fake.calls[0]?.signal.aborted, true);
});
