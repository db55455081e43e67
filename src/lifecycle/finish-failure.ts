// finishFailure: a failed candidate has exited (or never ran): answer its requests and decide what comes next (backoff, unavailable, or a retry).
import { backoffMs } from './crash-policy.js';
import { activeOf, arm, log, resolve, type Draft } from './draft.js';
import { deactivate, recordCrash, retire } from './transitions.js';
import type { Candidate } from './types.js';

/** A failed candidate has exited (or never ran): answer its requests and decide what comes next. */
export function finishFailure(d: Draft, candidate: Candidate): void {
  const failure = candidate.failure ?? { message: 'Beyla candidate failed', cannotRun: false };
  const p = d.s.phase;
  const active = activeOf(d.s);
  const crashed = p.phase === 'starting' ? p.crashed : null;
  const spawnMs = candidate.spawnedAt === null ? undefined : candidate.spawnedAt - candidate.decidedAt;
  d.s = { ...d.s, lastSwap: { generation: candidate.generation, result: 'failed', error: failure.message, at: new Date(d.at).toISOString(), durationMs: d.at - candidate.decidedAt } };
  if (crashed && d.s.timers.restart === undefined) arm(d, 'restart', Math.max(d.at, crashed.restartAt));
  if (active?.hung) {
    // No replacement: a hung Beyla is no better than none. Kill it and go the crash way (backoff).
    d.s = { ...d.s, phase: { phase: 'idle' } };
    deactivate(d, active);
    retire(d, active.generation, active.pid, active.target, true);
    recordCrash(d, active.target, active.generation, `unresponsive (${active.hung}); its replacement failed: ${failure.message}`);
  } else if (candidate.reason === 'crash') {
    d.s = { ...d.s, phase: active ? { phase: 'ready', active } : { phase: 'idle' } };
    recordCrash(d, candidate.target, candidate.generation, failure.message);
  } else if (failure.cannotRun) {
    d.s = { ...d.s, phase: crashed ? { phase: 'backoff', crashed } : { phase: 'unavailable', active }, binaryMissing: true, reason: failure.message };
    arm(d, 'recheck', d.at + d.s.timing.binaryRecheckMs);
  } else {
    const retryAttempt = d.s.retryAttempt + 1;
    const retryAt = d.at + backoffMs(retryAttempt, d.s.timing.swapRetryInitialMs, d.s.timing.swapRetryMaxMs);
    const phase = crashed ? { phase: 'backoff' as const, crashed } : active ? { phase: 'ready' as const, active } : { phase: 'failed' as const };
    d.s = { ...d.s, phase, retryAttempt, reason: crashed ? d.s.reason : failure.message };
    log(d, 'warn', 'will retry the Beyla swap', { retry_in_ms: retryAt - d.at, why: candidate.why });
    arm(d, 'retry', retryAt);
  }
  resolve(d, candidate.requests, 'failed', failure.message, spawnMs);
}
