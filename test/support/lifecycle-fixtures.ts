// Plain values for the lifecycle tests: targets, plans, events, and states reached by stepping from the start.
import type { BeylaSettings } from '../../src/config/types.js';
import { initialState, step } from '../../src/lifecycle/step.js';
import { resolveTiming } from '../../src/lifecycle/timing.js';
import type { Effect, LifecycleEvent, LifecycleState, PhaseName, Plan, Target } from '../../src/lifecycle/types.js';
import { settings } from './supervisor-fixtures.js';

export const TIMING = resolveTiming({});

/** The supervisor tests' settings with a production binary path: the lifecycle never runs it. */
export const SETTINGS: BeylaSettings = settings({ binary: '/usr/bin/beyla' });

/** A target whose key is `key` (equal keys: the same rendered config). */
export function target(key: string, seq = 1): Target {
  const port = 8000 + key.length;
  return {
    seq,
    desired: { services: [], ports: [{ from: port, to: port }], selectors: [{ services: [key], openPorts: [{ from: port, to: port }] }] },
    settings: SETTINGS,
    binary: SETTINGS.binary,
    key,
    digest: key,
    portsString: String(port),
    portsCount: 1,
  };
}

export function run(key: string, seq = 1): Plan {
  return { kind: 'run', target: target(key, seq) };
}

export const AT = 1_000_000;

export function desired(plan: Plan, requests: number[] = [99], at = AT): LifecycleEvent {
  return { type: 'desired', at, requests, why: 'change', plan };
}

/** Steps through `events` from the initial state; returns the last state and every effect. */
export function drive(events: LifecycleEvent[], from: LifecycleState = initialState(TIMING, true)): { state: LifecycleState; effects: Effect[] } {
  let state = from;
  const effects: Effect[] = [];
  for (const event of events) {
    const result = step(state, event);
    state = result.state;
    effects.push(...result.effects);
  }
  return { state, effects };
}

const at = (ms: number): number => AT + ms;

/** One state in each phase, each reached by real steps (so it is a state the machine can be in). */
export function statesByPhase(): Record<PhaseName, LifecycleState> {
  const starting = drive([desired(run('K1'), [1]), { type: 'spawned', at: at(1), generation: 1, pid: 101 }]).state;
  const ready = drive([{ type: 'ready', at: at(2), generation: 1 }], starting).state;
  const swapping = drive([desired(run('K2', 2), [2], at(3)), { type: 'spawned', at: at(4), generation: 2, pid: 102 }], ready).state;
  const backoff = drive([{ type: 'exited', at: at(3), generation: 1, description: 'exited with code 2', exitCode: 2, signal: null }], ready).state;
  const failed = drive([
    { type: 'not-ready', at: at(2), generation: 1, message: 'not ready within 5000 ms', cannotRun: false },
    { type: 'exited', at: at(3), generation: 1, description: 'exited with code 0', exitCode: 0, signal: null },
  ], starting).state;
  const unavailable = drive([desired({ kind: 'missing-binary', binary: 'beyla', message: "Beyla binary 'beyla' not found on PATH" })]).state;
  const stopping = drive([{ type: 'stop', at: at(3) }], ready).state;
  const stopped = drive([{ type: 'exited', at: at(4), generation: 1, description: 'exited with code 0', exitCode: 0, signal: null }], stopping).state;
  return {
    idle: initialState(TIMING, true),
    disabled: initialState(TIMING, false),
    starting, ready, swapping, backoff, failed, unavailable, stopping, stopped,
  };
}

/** Freezes a value and everything in it, so a step that mutates its input throws. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
