// Table tests of the Beyla lifecycle: every (phase, event) pair has a row giving the next phase and the effects.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { step } from '../src/lifecycle/step.js';
import { activeOf, candidateOf, liveGenerations } from '../src/lifecycle/transitions.js';
import { EVENT_TYPES, PHASES, type Effect, type EventType, type LifecycleEvent, type LifecycleState, type PhaseName } from '../src/lifecycle/types.js';
import { AT, deepFreeze, desired, drive, run, statesByPhase, target, TIMING } from './support/lifecycle-fixtures.js';

const STALE = 77;

/** The event of `type` that matters most in `s`: about its candidate, else its active, else a retiring one, else a stale generation. */
function eventFor(s: LifecycleState, type: EventType): LifecycleEvent {
  const at = AT + 10;
  const candidate = candidateOf(s)?.generation;
  const active = activeOf(s)?.generation;
  const retiring = s.retiring[0]?.generation;
  switch (type) {
    case 'desired': return desired(run('K9', 9), [99], at);
    case 'spawned': return { type, at, generation: candidate ?? STALE, pid: 909 };
    case 'spawn-failed': return { type, at, generation: candidate ?? STALE, message: 'EROFS: read-only file system' };
    case 'ready': return { type, at, generation: candidate ?? STALE };
    case 'not-ready': return { type, at, generation: candidate ?? STALE, message: 'not ready within 5000 ms', cannotRun: false };
    case 'exited': return { type, at, generation: active ?? candidate ?? retiring ?? STALE, description: 'killed by SIGKILL', exitCode: null, signal: 'SIGKILL' };
    case 'fatal': return { type, at, generation: active ?? STALE, line: 'Unable to load eBPF watcher for process events' };
    case 'liveness': return { type, at, generation: active ?? STALE, ok: false, probe: '/healthz on 127.0.0.1:9', detail: 'no answer within 1000 ms' };
    case 'timer': {
      const armed = (Object.keys(s.timers) as Array<keyof LifecycleState['timers']>)[0];
      return { type, at: Math.max(at, armed ? s.timers[armed] ?? at : at), timer: armed ?? 'retry' };
    }
    case 'stop': return { type, at };
    case 'survivors': return { type, at, survivors: [{ generation: 50, pid: 5050, digest: 'K9' }] };
  }
}

interface Row {
  phase: PhaseName;
  /** Effect types in order, logs left out. */
  effects: string[];
}

const same = (phase: PhaseName): Row => ({ phase, effects: [] });
const ignoresStale = (phase: PhaseName): Pick<Record<EventType, Row>, 'spawned' | 'spawn-failed' | 'ready' | 'not-ready' | 'exited' | 'fatal' | 'liveness'> => ({
  spawned: same(phase), 'spawn-failed': same(phase), ready: same(phase), 'not-ready': same(phase), exited: same(phase), fatal: same(phase), liveness: same(phase),
});

/** Typed so that a missing phase or event is a compile error; the test below also checks it at run time. */
const TABLE: Record<PhaseName, Record<EventType, Row>> = {
  idle: { ...ignoresStale('idle'), desired: { phase: 'starting', effects: ['spawn'] }, timer: same('idle'), stop: same('stopped'), survivors: same('idle') }, // kept until ours is ready
  disabled: { ...ignoresStale('disabled'), desired: { phase: 'starting', effects: ['spawn'] }, timer: same('disabled'), stop: same('stopped'), survivors: { phase: 'disabled', effects: ['terminate'] } },
  starting: {
    desired: same('starting'), // waits in the pending slot: never two candidates
    spawned: same('starting'),
    'spawn-failed': { phase: 'failed', effects: ['count-readiness-failure', 'arm', 'resolve'] },
    ready: { phase: 'ready', effects: ['promote', 'observe-swap', 'resolve'] },
    'not-ready': { phase: 'starting', effects: ['count-readiness-failure', 'terminate'] }, // SIGTERM and grace; the slot stays taken until it exits
    exited: same('starting'), // the readiness probe reports the exit in Beyla's words
    fatal: same('starting'),
    liveness: same('starting'),
    timer: same('starting'),
    stop: { phase: 'stopping', effects: ['resolve', 'terminate'] },
    survivors: same('starting'), // they instrument until the candidate is ready
  },
  ready: {
    ...ignoresStale('ready'),
    desired: { phase: 'swapping', effects: ['spawn'] },
    exited: { phase: 'backoff', effects: ['deactivate', 'arm'] },
    fatal: { phase: 'backoff', effects: ['deactivate', 'terminate', 'arm'] },
    liveness: same('ready'), // one failed probe of three
    timer: same('ready'),
    stop: { phase: 'stopping', effects: ['deactivate', 'terminate'] },
    survivors: { phase: 'ready', effects: ['terminate'] }, // an instance of ours is ready: they are not needed
  },
  swapping: {
    desired: same('swapping'),
    spawned: same('swapping'),
    'spawn-failed': { phase: 'ready', effects: ['count-readiness-failure', 'arm', 'resolve'] },
    ready: { phase: 'ready', effects: ['promote', 'observe-swap', 'count-restart', 'terminate'] },
    'not-ready': { phase: 'swapping', effects: ['count-readiness-failure', 'terminate'] },
    exited: { phase: 'starting', effects: ['deactivate', 'arm'] },
    fatal: { phase: 'starting', effects: ['deactivate', 'terminate', 'arm'] },
    liveness: same('swapping'),
    timer: same('swapping'),
    stop: { phase: 'stopping', effects: ['resolve', 'deactivate', 'terminate', 'terminate'] },
    survivors: { phase: 'swapping', effects: ['terminate'] },
  },
  backoff: { ...ignoresStale('backoff'), desired: { phase: 'starting', effects: ['spawn'] }, timer: { phase: 'starting', effects: ['spawn'] }, stop: { phase: 'stopped', effects: ['disarm'] }, survivors: same('backoff') },
  failed: { ...ignoresStale('failed'), desired: { phase: 'starting', effects: ['disarm', 'spawn'] }, timer: { phase: 'failed', effects: ['replan'] }, stop: { phase: 'stopped', effects: ['disarm'] }, survivors: same('failed') },
  unavailable: { ...ignoresStale('unavailable'), desired: { phase: 'starting', effects: ['disarm', 'spawn'] }, timer: { phase: 'unavailable', effects: ['replan'] }, stop: { phase: 'stopped', effects: ['disarm'] }, survivors: same('unavailable') },
  stopping: { ...ignoresStale('stopping'), desired: { phase: 'stopping', effects: ['resolve'] }, exited: same('stopped'), timer: same('stopping'), stop: same('stopping'), survivors: { phase: 'stopping', effects: ['terminate'] } },
  stopped: { ...ignoresStale('stopped'), desired: { phase: 'stopped', effects: ['resolve'] }, timer: same('stopped'), stop: same('stopped'), survivors: same('stopped') }, // nothing of ours can start any more
};

describe('Beyla lifecycle transition table', () => {
  const states = statesByPhase();

  test('every phase has a reachable example state and every (phase, event) pair a row', () => {
    const missing: string[] = [];
    for (const phase of PHASES) {
      assert.equal(states[phase].phase.phase, phase, `the example state for ${phase} is in ${states[phase].phase.phase}`);
      for (const type of EVENT_TYPES) if (!TABLE[phase]?.[type]) missing.push(`${phase} x ${type}`);
    }
    assert.deepEqual(missing, [], 'pairs without a row');
    assert.equal(Object.keys(TABLE).length, PHASES.length, 'a row for a phase that does not exist');
  });

  for (const phase of PHASES) {
    for (const type of EVENT_TYPES) {
      test(`${phase} x ${type}`, () => {
        const before = deepFreeze(structuredClone(states[phase]));
        const row = TABLE[phase][type];
        const { state, effects } = step(before, eventFor(before, type));
        assert.equal(state.phase.phase, row.phase);
        assert.deepEqual(effects.filter((e) => e.type !== 'log').map((e) => e.type), row.effects);
      });
    }
  }
});

describe('Beyla lifecycle decisions', () => {
  test('a desired state equal to the running one (same key) is unchanged: no spawn', () => {
    const { state, effects } = drive([desired(run('K1'), [5], AT + 20)], statesByPhase().ready);
    assert.equal(state.phase.phase, 'ready');
    assert.deepEqual(effects.filter((e) => e.type === 'resolve'), [{ type: 'resolve', requests: [5], result: 'unchanged' }]);
  });

  test('a desired state that waits for the slot is superseded by a newer one, and the newest is started after the swap', () => {
    const swapping = statesByPhase().swapping;
    const { state, effects } = drive([
      desired(run('K3', 3), [3], AT + 20),
      desired(run('K4', 4), [4], AT + 21),
      { type: 'ready', at: AT + 22, generation: 2 },
    ], swapping);
    assert.deepEqual(effects.find((e) => e.type === 'resolve'), { type: 'resolve', requests: [3], result: 'superseded' });
    const spawn = effects.find((e) => e.type === 'spawn');
    assert.equal(spawn?.type === 'spawn' && spawn.target.key, 'K4');
    assert.equal(state.phase.phase, 'swapping');
  });

  test('the swap is answered only once the old instance has exited', () => {
    const promoted = drive([{ type: 'ready', at: AT + 20, generation: 2 }], statesByPhase().swapping);
    assert.equal(promoted.effects.some((e) => e.type === 'resolve'), false);
    const gone = drive([{ type: 'exited', at: AT + 30, generation: 1, description: 'exited with code 0', exitCode: 0, signal: null }], promoted.state);
    assert.deepEqual(gone.effects.filter((e) => e.type === 'resolve'), [{ type: 'resolve', requests: [2], result: 'swapped', spawnMs: 1 }]);
  });

  test('crash restarts back off 1 s, 2 s, 4 s and the circuit opens at the fifth crash (60 s)', () => {
    let state = statesByPhase().ready;
    const delays: number[] = [];
    let at = AT + 10;
    for (let crash = 0; crash < 5; crash += 1) {
      const generation = activeOf(state)?.generation ?? 0;
      let r = step(state, { type: 'exited', at, generation, description: 'exited with code 2', exitCode: 2, signal: null });
      const armed = r.effects.find((e) => e.type === 'arm' && e.timer === 'restart');
      assert.ok(armed?.type === 'arm');
      delays.push(armed.at - at);
      at = armed.at;
      r = step(r.state, { type: 'timer', at, timer: 'restart' });
      const spawn = r.effects.find((e) => e.type === 'spawn');
      assert.ok(spawn?.type === 'spawn' && spawn.reason === 'crash');
      r = step(r.state, { type: 'spawned', at, generation: spawn.generation, pid: 200 + crash });
      r = step(r.state, { type: 'ready', at: at + 1, generation: spawn.generation });
      state = r.state;
      at += 100;
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, TIMING.degradedRetryMs]);
    assert.equal(state.crashes.circuitOpen, true);
  });

  test("probes that fail for the agent's own reasons are counted apart, never start a replacement, and a resync follows the next answer after a lack of fds", () => {
    const ready = statesByPhase().ready;
    const own = (at: number, ownFault: 'emfile' | 'event_loop_lag'): LifecycleEvent => ({ type: 'liveness', at, generation: 1, ok: false, probe: '/healthz on 127.0.0.1:9', detail: 'connect EMFILE', ownFault });
    const answered = (at: number): LifecycleEvent => ({ type: 'liveness', at, generation: 1, ok: true, probe: '/healthz on 127.0.0.1:9', detail: 'answered' });
    const faults = Array.from({ length: 10 }, (_, i) => own(AT + 10 + i, 'emfile'));
    const during = drive(faults, ready);
    assert.equal(during.state.phase.phase, 'ready');
    assert.equal(activeOf(during.state)?.livenessFailures, 0);
    assert.deepEqual(activeOf(during.state)?.ownFaults, { count: 10, resources: true });
    const counted = faults.reduce((r, e) => {
      const next = step(r.state, e);
      return { state: next.state, effects: [...r.effects, ...next.effects] };
    }, { state: ready, effects: [] as ReturnType<typeof step>['effects'] });
    assert.equal(counted.effects.some((e) => e.type === 'spawn'), false);
    assert.deepEqual(counted.effects.filter((e) => e.type === 'count-own-fault'), faults.map(() => ({ type: 'count-own-fault', reason: 'emfile' })));
    const back = step(during.state, answered(AT + 30));
    assert.deepEqual(back.effects.filter((e) => e.type !== 'log'), [{ type: 'resync' }]);
    assert.deepEqual(activeOf(back.state)?.ownFaults, { count: 0, resources: false });
    // Event-loop stalls cost no descriptors: no resync after them.
    const lagged = drive([own(AT + 40, 'event_loop_lag'), own(AT + 41, 'event_loop_lag'), own(AT + 42, 'event_loop_lag')], back.state);
    assert.equal(lagged.state.phase.phase, 'ready');
    assert.deepEqual(step(lagged.state, answered(AT + 50)).effects.filter((e) => e.type !== 'log'), []);
    // Own faults between real failures do not break the run of failures: Beyla's own silence still counts.
    const fail = (at: number): LifecycleEvent => ({ type: 'liveness', at, generation: 1, ok: false, probe: '/healthz on 127.0.0.1:9', detail: 'timeout' });
    const mixed = drive([fail(AT + 60), own(AT + 61, 'emfile'), fail(AT + 62), own(AT + 63, 'event_loop_lag'), fail(AT + 64)], ready);
    assert.ok(mixed.effects.some((e) => e.type === 'spawn' && e.reason === 'unresponsive'));
  });

  test('three failed liveness probes start a replacement on the same config; once it is ready the hung one is SIGKILLed', () => {
    let state = statesByPhase().ready;
    const probe = (at: number): LifecycleEvent => ({ type: 'liveness', at, generation: 1, ok: false, probe: '/healthz on 127.0.0.1:9', detail: 'timeout' });
    const r = drive([probe(AT + 10), probe(AT + 20), probe(AT + 30)], state);
    const spawn = r.effects.find((e) => e.type === 'spawn');
    assert.ok(spawn?.type === 'spawn' && spawn.reason === 'unresponsive' && spawn.target.key === 'K1');
    state = drive([{ type: 'spawned', at: AT + 31, generation: spawn.generation, pid: 300 }, { type: 'ready', at: AT + 40, generation: spawn.generation }], r.state).state;
    const last = step(r.state, { type: 'spawned', at: AT + 31, generation: spawn.generation, pid: 300 });
    const promoted = step(last.state, { type: 'ready', at: AT + 40, generation: spawn.generation });
    assert.deepEqual(promoted.effects.filter((e) => e.type === 'kill'), [{ type: 'kill', generation: 1 }]);
    assert.equal(state.phase.phase, 'ready');
  });
});

describe('Beyla lifecycle: survivors of a previous agent', () => {
  const found = (...survivors: Array<{ generation: number; pid: number; digest: string | null }>): LifecycleEvent => ({ type: 'survivors', at: AT, survivors });
  const types = (effects: Effect[]): string[] => effects.filter((e) => e.type !== 'log').map((e) => e.type);

  test('one that runs the desired config is adopted (no spawn); the others are stopped once it is ready', () => {
    const asked = drive([found({ generation: 4, pid: 404, digest: 'K1' }, { generation: 3, pid: 303, digest: 'K0' }), desired(run('K1'), [1], AT + 1)]);
    assert.deepEqual(types(asked.effects), ['adopt']);
    assert.deepEqual(asked.effects.find((e) => e.type === 'adopt'), { type: 'adopt', generation: 4, pid: 404, target: target('K1') });
    assert.deepEqual(liveGenerations(asked.state).sort(), [3, 4], 'the other survivor still runs while the adoption is verified');
    const adopted = drive([{ type: 'spawned', at: AT + 2, generation: 4, pid: 404 }, { type: 'ready', at: AT + 3, generation: 4 }], asked.state);
    assert.deepEqual(types(adopted.effects), ['promote', 'terminate', 'resolve']);
    assert.deepEqual(adopted.effects.find((e) => e.type === 'terminate'), { type: 'terminate', generation: 3, graceMs: 1000 + TIMING.stopMarginMs });
    assert.equal(adopted.state.lastSwap?.result, 'adopted');
    assert.equal(activeOf(adopted.state)?.generation, 4);
    const next = drive([desired(run('K2', 2), [2], AT + 4)], adopted.state);
    const spawn = next.effects.find((e) => e.type === 'spawn');
    assert.equal(spawn?.type === 'spawn' && spawn.generation, 5, 'new generations are numbered above the survivors');
  });

  test('one that runs another config keeps running until the new candidate is ready (make-before-break)', () => {
    const started = drive([found({ generation: 7, pid: 707, digest: 'K0' }), desired(run('K1'), [1], AT + 1), { type: 'spawned', at: AT + 2, generation: 8, pid: 808 }]);
    assert.deepEqual(types(started.effects), ['spawn']);
    const ready = step(started.state, { type: 'ready', at: AT + 3, generation: 8 });
    assert.deepEqual(types(ready.effects), ['promote', 'observe-swap', 'terminate', 'resolve']);
    assert.deepEqual(ready.state.retiring.map((r) => r.generation), [7]);
    assert.equal(ready.state.survivors.length, 0);
  });

  test('one that fails verification bridges: a new candidate starts at once and the survivor is stopped only when it is ready', () => {
    const asked = drive([found({ generation: 2, pid: 202, digest: 'K1' }), desired(run('K1'), [1], AT + 1), { type: 'spawned', at: AT + 2, generation: 2, pid: 202 }]);
    const failed = step(asked.state, { type: 'not-ready', at: AT + 3, generation: 2, message: '/healthz not answering', cannotRun: false });
    assert.deepEqual(types(failed.effects), ['spawn'], 'no SIGTERM to the survivor, no backoff');
    assert.deepEqual(failed.state.survivors.map((s) => [s.generation, s.adoptable]), [[2, false]]);
    const ready = drive([{ type: 'spawned', at: AT + 4, generation: 3, pid: 303 }, { type: 'ready', at: AT + 5, generation: 3 }], failed.state);
    assert.deepEqual(types(ready.effects), ['promote', 'observe-swap', 'terminate', 'resolve']);
    assert.deepEqual(ready.effects.find((e) => e.type === 'resolve'), { type: 'resolve', requests: [1], result: 'started', spawnMs: 1 });
  });

  test('a survivor that exits is forgotten; a stop stops the rest and ends once they have exited', () => {
    const gone = drive([found({ generation: 2, pid: 202, digest: null }, { generation: 3, pid: 303, digest: null }), { type: 'exited', at: AT + 1, generation: 2, description: 'exited', exitCode: null, signal: null }]);
    assert.deepEqual(gone.state.survivors.map((s) => s.generation), [3]);
    const stopping = step(gone.state, { type: 'stop', at: AT + 2 });
    assert.equal(stopping.state.phase.phase, 'stopping');
    assert.deepEqual(types(stopping.effects), ['terminate']);
    const stopped = step(stopping.state, { type: 'exited', at: AT + 3, generation: 3, description: 'exited', exitCode: null, signal: null });
    assert.equal(stopped.state.phase.phase, 'stopped');
  });

  test('a survivor without a config key (an older agent\'s record) is never adopted', () => {
    const asked = drive([found({ generation: 2, pid: 202, digest: null }), desired(run('K1'), [1], AT + 1)]);
    assert.deepEqual(types(asked.effects), ['spawn']);
  });
});
