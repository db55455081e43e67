// step(state, event) -> { state, effects }: every decision of the Beyla lifecycle, pure (no I/O, timers or processes).
import { NO_CRASHES } from './crash-policy.js';
import type { SupervisorTiming } from './timing.js';
import {
  act, activeOf, candidateOf, deactivate, disarm, finishFailure, liveGenerations, log, promote, recordCrash, resolve, retire, retireAll, startCandidate, type Draft,
} from './transitions.js';
import { dropSurvivor, keepUnadoptable, onSurvivors } from './survivors.js';
import type { Candidate, LifecycleEvent, LifecycleState, Phase, StepResult, SupervisorState } from './types.js';

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

/** The phase with its candidate replaced (the candidate slot is only in 'starting' and 'swapping'). */
function withCandidate(phase: Phase, candidate: Candidate): Phase {
  if (phase.phase === 'starting' || phase.phase === 'swapping') return { ...phase, candidate };
  return phase;
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

function onCandidateVerdict(d: Draft, e: Extract<LifecycleEvent, { type: 'ready' | 'not-ready' | 'spawn-failed' }>): void {
  const candidate = candidateOf(d.s);
  if (!candidate || candidate.generation !== e.generation || candidate.failure) return;
  if (e.type === 'ready' && !candidate.exited) {
    promote(d, candidate);
    if (e.handoverMs !== undefined) d.fx.push({ type: 'observe-handover', seconds: e.handoverMs / 1000 });
    if (e.warning) {
      log(d, 'warn', e.warning.message, { generation: e.generation, reason_code: e.warning.code, missing: e.warning.missing });
      d.s = { ...d.s, reason: e.warning };
    }
    return;
  }
  if (candidate.adopt) {
    onAdoptionFailed(d, candidate, e.type === 'ready' ? 'it exited' : e.message);
    return;
  }
  const failure = e.type === 'ready'
    ? { message: `Beyla generation ${e.generation} exited before it was ready`, cannotRun: false }
    : { message: e.message, cannotRun: e.type === 'not-ready' && e.cannotRun };
  const failed: Candidate = { ...candidate, failure, exited: candidate.exited || e.type === 'spawn-failed' };
  d.s = { ...d.s, phase: withCandidate(d.s.phase, failed) };
  const reason = e.type === 'ready' ? 'exited' : e.type === 'spawn-failed' ? 'spawn' : e.cannotRun ? 'cannot_run' : e.reason ?? 'timeout';
  d.fx.push({ type: 'count-readiness-failure', reason });
  if (failed.exited) {
    finishFailure(d, failed);
  } else {
    // Stopped like any instance: SIGTERM, the shutdown grace, then SIGKILL.
    d.fx.push({ type: 'terminate', generation: failed.generation, graceMs: failed.target.settings.shutdownTimeoutMs + d.s.timing.stopMarginMs });
  }
}

/** A survivor that did not pass verification: it keeps instrumenting (if alive) while a new candidate starts at once; stopped once that one is ready. */
function onAdoptionFailed(d: Draft, candidate: Candidate, why: string): void {
  log(d, 'warn', 'a Beyla left by a previous agent cannot be adopted: starting a new one, the old one runs until it is ready', { generation: candidate.generation, pid: candidate.pid, why });
  if (!candidate.exited && candidate.pid !== null) keepUnadoptable(d, { generation: candidate.generation, pid: candidate.pid });
  const p = d.s.phase;
  d.s = { ...d.s, phase: { phase: 'idle' } };
  startCandidate(d, { target: candidate.target, reason: candidate.reason, why: candidate.why, requests: candidate.requests });
  if (p.phase === 'starting' && p.crashed && d.s.phase.phase === 'starting') d.s = { ...d.s, phase: { ...d.s.phase, crashed: p.crashed } };
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

function onLiveness(d: Draft, e: Extract<LifecycleEvent, { type: 'liveness' }>): void {
  const active = activeOf(d.s);
  const p = d.s.phase;
  if (!active || active.generation !== e.generation || active.hung || (p.phase !== 'ready' && p.phase !== 'swapping')) return;
  if (e.ok) {
    if (active.livenessFailures > 0) log(d, 'info', 'active Beyla answers /healthz again', { generation: active.generation, failures: active.livenessFailures });
    if (active.ownFaults.resources) {
      // Watch events may have been lost while the agent was short of descriptors: re-read everything now, not at the next resync.
      log(d, 'info', 'the agent has file descriptors again: re-reading the configuration', { generation: active.generation, own_faults: active.ownFaults.count });
      d.fx.push({ type: 'resync' });
    }
    d.s = { ...d.s, phase: { ...p, active: { ...active, livenessFailures: 0, ownFaults: { count: 0, resources: false } } } };
    return;
  }
  if (e.ownFault) {
    // The agent's own trouble says nothing about Beyla: neither a failure nor an answer.
    const ownFaults = { count: active.ownFaults.count + 1, resources: active.ownFaults.resources || e.ownFault !== 'event_loop_lag' };
    log(d, 'warn', "liveness probe failed for the agent's own reasons: not counted against Beyla", { generation: active.generation, reason: e.ownFault, error: e.detail, own_faults: ownFaults.count });
    d.fx.push({ type: 'count-own-fault', reason: e.ownFault });
    d.s = { ...d.s, phase: { ...p, active: { ...active, ownFaults } } };
    return;
  }
  const { livenessFailures: of, livenessTimeoutMs, livenessIntervalMs } = d.s.timing;
  const failures = active.livenessFailures + 1;
  log(d, 'warn', 'active Beyla did not answer its liveness probe', { generation: active.generation, pid: active.pid, failures, of, error: e.detail });
  if (failures < of) {
    d.s = { ...d.s, phase: { ...p, active: { ...active, livenessFailures: failures } } };
    return;
  }
  const reason = `${e.probe} did not answer ${failures} probes in a row (${livenessTimeoutMs} ms each, ${livenessIntervalMs} ms apart; last: ${e.detail})`;
  const hung = { ...active, livenessFailures: failures, hung: reason };
  log(d, 'error', `active Beyla is unresponsive: ${reason}; replacing it (make-before-break), then SIGKILL`, { generation: active.generation, pid: active.pid, reason });
  d.s = { ...d.s, phase: { ...p, active: hung } };
  if (p.phase === 'ready') startCandidate(d, { target: active.target, reason: 'unresponsive', why: 'retry', requests: [] });
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
