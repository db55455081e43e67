// Draft: one step's working copy of the lifecycle state and its effects, the small writes on it (log, timers, answers) and what it reads (active, candidate, live).
import type { Active, ApplyResult, Candidate, Effect, LifecycleState, LogLevel, TimerName } from './types.js';

/** A working copy of the state for one step: top-level fields are replaced, nested values never mutated. */
export interface Draft {
  s: LifecycleState;
  fx: Effect[];
  at: number;
}

export function log(d: Draft, level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  d.fx.push({ type: 'log', level, msg, fields });
}

export function arm(d: Draft, timer: TimerName, at: number): void {
  d.s = { ...d.s, timers: { ...d.s.timers, [timer]: at } };
  d.fx.push({ type: 'arm', timer, at });
}

export function disarm(d: Draft, timer: TimerName): void {
  if (d.s.timers[timer] === undefined) return;
  const timers = { ...d.s.timers };
  delete timers[timer];
  d.s = { ...d.s, timers };
  d.fx.push({ type: 'disarm', timer });
}

export function resolve(d: Draft, requests: number[], result: ApplyResult, error?: string, spawnMs?: number): void {
  if (requests.length === 0) return;
  d.fx.push({ type: 'resolve', requests, result, ...(error === undefined ? {} : { error }), ...(spawnMs === undefined ? {} : { spawnMs }) });
}

export function activeOf(s: LifecycleState): Active | null {
  const p = s.phase;
  return p.phase === 'ready' || p.phase === 'swapping' ? p.active : p.phase === 'unavailable' ? p.active : null;
}

export function candidateOf(s: LifecycleState): Candidate | null {
  const p = s.phase;
  return p.phase === 'starting' || p.phase === 'swapping' ? p.candidate : null;
}

/** Generations still running: active, candidate, retiring, survivors of a previous agent. */
export function liveGenerations(s: LifecycleState): number[] {
  const active = activeOf(s);
  const candidate = candidateOf(s);
  return [
    ...(active ? [active.generation] : []), ...(candidate && !candidate.exited ? [candidate.generation] : []),
    ...s.retiring.map((r) => r.generation), ...s.survivors.map((r) => r.generation),
  ];
}
