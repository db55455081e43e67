// Property tests of the Beyla lifecycle: random event sequences from a world that behaves like the driver keep the invariants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { initialState, step } from '../src/lifecycle/step.js';
import { activeOf, candidateOf } from '../src/lifecycle/transitions.js';
import type { Effect, LifecycleEvent, LifecycleState, Plan, TimerName } from '../src/lifecycle/types.js';
import { AT, deepFreeze, target, TIMING } from './support/lifecycle-fixtures.js';

/** What the driver would do with the effects, as a model: processes, probes, timers, requests. */
class World {
  state: LifecycleState = initialState(TIMING, true);
  now = AT;
  seq = 0;
  requestSeq = 0;
  latest: Plan | null = null;
  /** spawn effects not yet answered with spawned / spawn-failed. */
  spawning = new Set<number>();
  /** Running processes (spawned, not exited); `asked`: told to exit. */
  running = new Map<number, { asked: boolean }>();
  /** Candidates whose readiness probe has not answered; `mustFail`: it died first. */
  probing = new Map<number, { mustFail: boolean }>();
  cancelled = new Set<number>();
  /** Survivors the lifecycle asked to adopt: already running, attached to rather than spawned. */
  adopting = new Set<number>();
  timers = new Map<TimerName, number>();
  open = new Set<number>();
  resolved = new Set<number>();
  /** Generations that were a candidate and have not been promoted or exited. */
  candidates = new Set<number>();
  promotedSeqs: number[] = [];
  stopSent = false;
  queue: LifecycleEvent[] = [];
  problems: string[] = [];

  send(event: LifecycleEvent): void {
    this.queue.push(event);
    while (this.queue.length > 0) {
      const next = this.queue.shift() as LifecycleEvent;
      const before = deepFreeze(this.state);
      const { state, effects } = step(before, next);
      this.check(before, next, state, effects);
      this.state = state;
      for (const effect of effects) this.perform(effect);
      if (this.candidates.size > 1) this.problems.push(`two candidates: ${[...this.candidates].join(',')}`);
    }
  }

  private check(before: LifecycleState, event: LifecycleEvent, after: LifecycleState, effects: Effect[]): void {
    const was = activeOf(before);
    const now = activeOf(after);
    if (was && !now) {
      const allowed = ((event.type === 'exited' || event.type === 'fatal') && event.generation === was.generation)
        || event.type === 'stop'
        || (event.type === 'desired' && (event.plan.kind === 'empty' || event.plan.kind === 'disabled'))
        || (was.hung !== null && (event.type === 'not-ready' || event.type === 'spawn-failed' || event.type === 'exited' || event.type === 'ready'));
      if (!allowed) this.problems.push(`active ${was.generation} dropped by ${event.type}`);
    }
    if (after.phase.phase === 'backoff' && after.timers.restart === undefined) this.problems.push(`backoff without a restart timer after ${event.type}`);
    if (after.phase.phase === 'unavailable' && after.timers.recheck === undefined && !effects.some((e) => e.type === 'replan')) this.problems.push(`unavailable without a recheck timer after ${event.type}`);
    if (this.stopSent && effects.some((e) => e.type === 'spawn')) this.problems.push('spawn after stop');
  }

  /** Beyla instances a previous agent left running, as the driver reports them before the first desired state. */
  begin(survivors: Array<{ generation: number; digest: string | null }>): void {
    if (survivors.length === 0) return;
    for (const s of survivors) this.running.set(s.generation, { asked: false });
    this.send({ type: 'survivors', at: this.now, survivors: survivors.map((s) => ({ ...s, pid: 2000 + s.generation })) });
  }

  private perform(effect: Effect): void {
    switch (effect.type) {
      case 'spawn':
        for (const s of this.state.survivors) this.candidates.delete(s.generation); // a failed adoption is no candidate any more
        if (this.running.has(effect.generation)) this.problems.push(`spawn of generation ${effect.generation}, which still runs`);
        this.spawning.add(effect.generation);
        this.candidates.add(effect.generation);
        return;
      case 'adopt':
        if (!this.running.has(effect.generation)) this.problems.push(`adoption of generation ${effect.generation}, which does not run`);
        this.adopting.add(effect.generation);
        this.spawning.add(effect.generation);
        this.candidates.add(effect.generation);
        return;
      case 'promote':
        this.candidates.delete(effect.generation);
        this.promotedSeqs.push(effect.seq);
        return;
      case 'terminate':
      case 'kill': {
        this.probing.delete(effect.generation);
        const proc = this.running.get(effect.generation);
        if (proc) proc.asked = true;
        else if (this.spawning.has(effect.generation)) this.cancelled.add(effect.generation);
        return;
      }
      case 'arm': this.timers.set(effect.timer, effect.at); return;
      case 'disarm': this.timers.delete(effect.timer); return;
      case 'resolve':
        for (const id of effect.requests) {
          if (!this.open.has(id)) this.problems.push(`request ${id} answered twice or never asked`);
          this.open.delete(id);
          this.resolved.add(id);
        }
        return;
      case 'replan':
        if (this.latest) this.queue.push({ type: 'desired', at: this.now, requests: [], why: 'retry', plan: this.latest });
        return;
      default:
    }
  }

  private exit(generation: number, signal: string | null): void {
    this.running.delete(generation);
    this.candidates.delete(generation);
    const probe = this.probing.get(generation);
    if (probe) probe.mustFail = true;
    this.send({ type: 'exited', at: this.now, generation, description: signal ? `killed by ${signal}` : 'exited with code 0', exitCode: signal ? null : 0, signal });
  }

  /** Does one thing the world can do now, chosen by `pick`; returns false when there was nothing of that kind. */
  act(kind: number, pick: number): boolean {
    this.now += pick % 50;
    const choose = <T>(items: T[]): T | undefined => items[pick % Math.max(1, items.length)];
    switch (kind) {
      case 0: {
        if (this.stopSent) return false;
        const plans: Plan[] = [
          { kind: 'run', target: target(`K${pick % 3}`, ++this.seq) }, { kind: 'run', target: target(`K${pick % 3}`, ++this.seq) },
          { kind: 'empty' }, { kind: 'disabled' }, { kind: 'missing-binary', binary: 'beyla', message: 'missing' }, { kind: 'invalid', message: 'bad' },
        ];
        const plan = plans[pick % plans.length] as Plan;
        this.latest = plan;
        const id = ++this.requestSeq;
        this.open.add(id);
        this.send({ type: 'desired', at: this.now, requests: [id], why: 'change', plan });
        return true;
      }
      case 1: {
        const generation = choose([...this.spawning]);
        if (generation === undefined) return false;
        this.spawning.delete(generation);
        const adopted = this.adopting.delete(generation);
        if (adopted ? !this.running.has(generation) : this.cancelled.has(generation) || pick % 7 === 0) {
          this.candidates.delete(generation);
          this.send({ type: 'spawn-failed', at: this.now, generation, message: 'could not start' });
          return true;
        }
        if (!adopted) this.running.set(generation, { asked: false }); // an adopted survivor already runs
        this.probing.set(generation, { mustFail: false });
        this.send({ type: 'spawned', at: this.now, generation, pid: 1000 + generation });
        return true;
      }
      case 2: {
        const entry = choose([...this.probing]);
        if (!entry) return false;
        const [generation, probe] = entry;
        this.probing.delete(generation);
        if (probe.mustFail || pick % 3 === 0) this.send({ type: 'not-ready', at: this.now, generation, message: 'not ready', cannotRun: pick % 11 === 0 });
        else this.send({ type: 'ready', at: this.now, generation });
        return true;
      }
      case 3: {
        const generation = choose([...this.running].filter(([, p]) => p.asked).map(([g]) => g));
        if (generation === undefined) return false;
        this.exit(generation, pick % 2 === 0 ? 'SIGKILL' : null);
        return true;
      }
      case 4: {
        const generation = choose([...this.running.keys()]);
        if (generation === undefined) return false;
        this.exit(generation, 'SIGSEGV');
        return true;
      }
      case 5: {
        const generation = choose([...this.running.keys()]);
        if (generation === undefined) return false;
        this.send({ type: 'fatal', at: this.now, generation, line: 'Unable to load eBPF watcher for process events' });
        return true;
      }
      case 6: {
        const active = activeOf(this.state);
        if (!active || !this.running.has(active.generation)) return false;
        this.send({ type: 'liveness', at: this.now, generation: active.generation, ok: pick % 4 === 0, probe: '/healthz', detail: 'timeout' });
        return true;
      }
      case 7: {
        const timer = choose([...this.timers.keys()]);
        if (timer === undefined) return false;
        this.now = Math.max(this.now, this.timers.get(timer) ?? this.now);
        this.timers.delete(timer);
        this.send({ type: 'timer', at: this.now, timer });
        return true;
      }
      default:
        if (this.stopSent || pick % 5 !== 0) return false;
        this.stopSent = true;
        this.send({ type: 'stop', at: this.now });
        return true;
    }
  }

  /** Stop, then let every asked process exit and every spawn finish, as the driver would. */
  finish(): void {
    if (!this.stopSent) {
      this.stopSent = true;
      this.send({ type: 'stop', at: this.now });
    }
    for (let rounds = 0; rounds < 100 && (this.running.size > 0 || this.spawning.size > 0); rounds += 1) {
      for (const generation of [...this.spawning]) {
        this.spawning.delete(generation);
        if (this.adopting.delete(generation) && this.running.has(generation)) {
          this.probing.set(generation, { mustFail: false });
          this.send({ type: 'spawned', at: this.now, generation, pid: 2000 + generation });
          continue;
        }
        this.candidates.delete(generation);
        this.send({ type: 'spawn-failed', at: this.now, generation, message: 'stopped before it started' });
      }
      for (const [generation, proc] of [...this.running]) if (proc.asked) this.exit(generation, null);
      if ([...this.running.values()].some((p) => !p.asked)) this.problems.push(`running but never asked to exit: ${[...this.running.keys()].join(',')}`);
      if (this.problems.length > 0) return;
    }
  }
}

const actions = fc.array(fc.tuple(fc.nat(8), fc.nat(1000)), { minLength: 1, maxLength: 150 });
/** Up to three survivors of a previous agent (generations 1-3), running one of the world's configs or one without a key. */
const survivors = fc.uniqueArray(fc.record({ generation: fc.integer({ min: 1, max: 3 }), digest: fc.constantFrom('K0', 'K1', 'K2', null) }), { maxLength: 3, selector: (s) => s.generation });

test('random event sequences: never two candidates, no active dropped outside a crash, newer never followed by older, each request answered once', () => {
  fc.assert(fc.property(actions, survivors, (steps, found) => {
    const world = new World();
    world.begin(found);
    for (const [kind, pick] of steps) {
      world.act(kind, pick);
      assert.deepEqual(world.problems, []);
    }
    const seqs = world.promotedSeqs;
    for (let i = 1; i < seqs.length; i += 1) assert.ok((seqs[i] ?? 0) >= (seqs[i - 1] ?? 0), `promoted desired ${seqs[i]} after ${seqs[i - 1]}`);
  }), { numRuns: 400 });
});

test('a stop always ends with no live instance, no candidate, no timer and every request answered', () => {
  fc.assert(fc.property(actions, survivors, (steps, found) => {
    const world = new World();
    world.begin(found);
    for (const [kind, pick] of steps) world.act(kind, pick);
    world.finish();
    assert.deepEqual(world.problems, []);
    assert.equal(world.state.phase.phase, 'stopped');
    assert.equal(world.running.size, 0);
    assert.equal(candidateOf(world.state), null);
    assert.deepEqual(world.state.timers, {});
    assert.deepEqual([...world.open], [], 'requests never answered');
  }), { numRuns: 400 });
});
