// onCandidateVerdict: a candidate's readiness verdict (ready, not ready, spawn failed) -> promote it, or fail it (a survivor: start a new one).
import { candidateOf, log, type Draft } from './draft.js';
import { finishFailure } from './finish-failure.js';
import { promote, startCandidate } from './transitions.js';
import { keepUnadoptable } from './survivors.js';
import type { Candidate, LifecycleEvent, Phase } from './types.js';

/** The phase with its candidate replaced (the candidate slot is only in 'starting' and 'swapping'). */
export function withCandidate(phase: Phase, candidate: Candidate): Phase {
  if (phase.phase === 'starting' || phase.phase === 'swapping') return { ...phase, candidate };
  return phase;
}

export function onCandidateVerdict(d: Draft, e: Extract<LifecycleEvent, { type: 'ready' | 'not-ready' | 'spawn-failed' }>): void {
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
