// step(state, event) -> { state, effects }: every decision of the Beyla lifecycle, pure (no I/O, timers or processes).
import { NO_CRASHES } from './crash-policy.js';
import type { SupervisorTiming } from './timing.js';
import { act } from './act.js';
import { activeOf, candidateOf, disarm, liveGenerations, log, resolve, type Draft } from './draft.js';
import { finishFailure } from './finish-failure.js';
import { deactivate, recordCrash, retire, retireAll, startCandidate } from './transitions.js';
import { onCandidateVerdict, withCandidate } from './on-candidate-verdict.js';
import { onLiveness } from './on-liveness.js';
import { dropSurvivor, onSurvivors } from './survivors.js';
import type { LifecycleEvent, LifecycleState, StepResult, SupervisorState } from './types.js';

export function initialState(timing: SupervisorTiming, enabled: boolean): LifecycleState {
  return {
    phase: enabled ? { phase: 'idle' } : { phase: 'disabled' },
    timing,
    generation: 0,
    retiring: [],
    survivors: [],
    pending: null,
    waiters: [],
    crashes: NO_CRASHES,
    retryAttempt: 0,
    timers: {},
    binaryMissing: false,
    lastSwap: null,
    reason: null,
  };
}

/** Answers waiters whose instances are all gone; takes the pending desired state if the slot is free; ends a stop. */
function settle(d: Draft): void {
  answerWaiters(d);
  if (d.s.phase.phase === 'stopping' && liveGenerations(d.s).length === 0) d.s = { ...d.s, phase: { phase: 'stopped' } };
  const pending = d.s.pending;
  if (pending && !candidateOf(d.s) && d.s.phase.phase !== 'stopping' && d.s.phase.phase !== 'stopped') {
    d.s = { ...d.s, pending: null };
    act(d, pending.plan, pending.requests, pending.why);
    answerWaiters(d); // act may add a waiter that has nothing to wait for (disabled, or no services and nothing running)
  }
}

function answerWaiters(d: Draft): void {
  const live = new Set(liveGenerations(d.s));
  const [done, waiting] = [d.s.waiters.filter((w) => w.afterExit.every((g) => !live.has(g))), d.s.waiters.filter((w) => w.afterExit.some((g) => live.has(g)))];
  if (done.length > 0) {
    d.s = { ...d.s, waiters: waiting };
    for (const w of done) resolve(d, w.requests, w.result, w.error, w.spawnMs);
  }
}

function onDesired(d: Draft, e: Extract<LifecycleEvent, { type: 'desired' }>): void {
  const p = d.s.phase.phase;
  if (p === 'stopping' || p === 'stopped') {
    resolve(d, e.requests, 'failed', 'the Beyla supervisor is stopped');
    return;
  }
  const previous = d.s.pending;
  if (previous && e.why === 'retry') {
    // A retry re-reads the same newest desired state: keep the waiting change and its requests.
    d.s = { ...d.s, pending: { ...previous, plan: e.plan } };
    return;
  }
  if (previous) resolve(d, previous.requests, 'superseded');
  d.s = { ...d.s, pending: { plan: e.plan, requests: e.requests, why: e.why } };
}

function onStop(d: Draft): void {
  const p = d.s.phase.phase;
  if (p === 'stopping' || p === 'stopped') return;
  const candidate = candidateOf(d.s);
  if (d.s.pending) resolve(d, d.s.pending.requests, 'failed', 'the Beyla supervisor stopped');
  if (candidate) resolve(d, candidate.requests, 'failed', candidate.failure?.message ?? `Beyla generation ${candidate.generation} start abandoned: the supervisor is stopping`);
  retireAll(d);
  disarm(d, 'recheck');
  d.s = { ...d.s, pending: null, phase: { phase: 'stopping' }, reason: null };
}

function onExited(d: Draft, e: Extract<LifecycleEvent, { type: 'exited' }>): void {
  const candidate = candidateOf(d.s);
  const active = activeOf(d.s);
  if (d.s.retiring.some((r) => r.generation === e.generation)) {
    d.s = { ...d.s, retiring: d.s.retiring.filter((r) => r.generation !== e.generation) };
  } else if (d.s.survivors.some((r) => r.generation === e.generation)) {
    log(d, 'warn', `a Beyla left by a previous agent ${e.description}`, { generation: e.generation });
    dropSurvivor(d, e.generation);
  } else if (candidate?.generation === e.generation) {
    const gone = { ...candidate, exited: true };
    if (gone.failure) {
      d.s = { ...d.s, phase: withCandidate(d.s.phase, gone) };
      finishFailure(d, gone);
    } else {
      // The readiness probe reports the exit with Beyla's own words ('not-ready'); wait for it.
      d.s = { ...d.s, phase: withCandidate(d.s.phase, gone) };
    }
  } else if (active?.generation === e.generation) {
    log(d, 'error', `active Beyla ${e.description}`, { generation: e.generation, pid: active.pid, exit_code: e.exitCode, signal: e.signal });
    deactivate(d, active);
    const candidateNow = candidateOf(d.s);
    d.s = { ...d.s, phase: candidateNow ? { phase: 'starting', candidate: candidateNow, crashed: null } : { phase: 'idle' } };
    recordCrash(d, active.target, active.generation, e.description);
  }
}

function onFatal(d: Draft, e: Extract<LifecycleEvent, { type: 'fatal' }>): void {
  const active = activeOf(d.s);
  if (!active || active.generation !== e.generation) return; // a candidate's fatal line fails its readiness probe
  log(d, 'error', 'active Beyla logged a fatal line: replacing it', { generation: e.generation, beyla_error: e.line });
  deactivate(d, active);
  const candidate = candidateOf(d.s);
  d.s = { ...d.s, phase: candidate ? { phase: 'starting', candidate, crashed: null } : { phase: 'idle' } };
  retire(d, active.generation, active.pid, active.target, active.hung !== null);
  recordCrash(d, active.target, active.generation, e.line);
}

function onTimer(d: Draft, e: Extract<LifecycleEvent, { type: 'timer' }>): void {
  if (d.s.timers[e.timer] === undefined) return;
  const timers = { ...d.s.timers };
  delete timers[e.timer];
  d.s = { ...d.s, timers };
  const p = d.s.phase;
  switch (e.timer) {
    case 'restart':
      if (p.phase === 'backoff') startCandidate(d, { target: p.crashed.target, reason: 'crash', why: 'retry', requests: [] });
      return;
    case 'retry':
    case 'recheck':
      d.fx.push({ type: 'replan' });
      return;
    case 'stable': {
      const active = activeOf(d.s);
      if (!active || d.s.crashes.consecutive === 0) return;
      const wasOpen = d.s.crashes.circuitOpen;
      d.s = { ...d.s, crashes: NO_CRASHES, ...(p.phase === 'ready' ? { reason: null } : {}) };
      log(d, 'info', 'Beyla has run stably: crash count reset', { generation: active.generation, circuit_was_open: wasOpen });
    }
  }
}

/** One event in, the next state and the effects the driver must perform out. Never mutates `state`. */
export function step(state: LifecycleState, event: LifecycleEvent): StepResult {
  const d: Draft = { s: state, fx: [], at: event.at };
  switch (event.type) {
    case 'desired': onDesired(d, event); break;
    case 'spawned': {
      const candidate = candidateOf(d.s);
      if (candidate?.generation === event.generation) {
        d.s = { ...d.s, phase: withCandidate(d.s.phase, { ...candidate, spawnedAt: event.at, pid: event.pid }) };
      }
      d.s = { ...d.s, retiring: d.s.retiring.map((r) => (r.generation === event.generation ? { ...r, pid: event.pid } : r)) };
      break;
    }
    case 'spawn-failed':
      if (d.s.retiring.some((r) => r.generation === event.generation)) onExited(d, { type: 'exited', at: event.at, generation: event.generation, description: event.message, exitCode: null, signal: null });
      else onCandidateVerdict(d, event);
      break;
    case 'ready':
    case 'not-ready': onCandidateVerdict(d, event); break;
    case 'exited': onExited(d, event); break;
    case 'fatal': onFatal(d, event); break;
    case 'liveness': onLiveness(d, event); break;
    case 'timer': onTimer(d, event); break;
    case 'stop': onStop(d); break;
    case 'survivors': onSurvivors(d, event, activeOf(d.s) !== null); break;
  }
  settle(d);
  return { state: d.s, effects: d.fx };
}

/** The user-facing state of a lifecycle state: a crash loop or an open circuit reads 'degraded'. */
export function publicState(s: LifecycleState): SupervisorState {
  const p = s.phase;
  switch (p.phase) {
    case 'ready': return s.crashes.circuitOpen ? 'degraded' : 'ready';
    case 'backoff': return s.crashes.circuitOpen ? 'degraded' : 'starting';
    case 'failed': return 'degraded';
    default: return p.phase;
  }
}
