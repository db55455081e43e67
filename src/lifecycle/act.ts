// act: what the lifecycle does with the newest desired state (disabled, empty, missing binary, invalid, or a config to run).
import { activeOf, arm, disarm, liveGenerations, log, resolve, type Draft } from './draft.js';
import { matchingSurvivor } from './survivors.js';
import { retireAll, startCandidate } from './transitions.js';
import type { ApplyResult, Plan } from './types.js';

/** Acts on the newest desired state; only called while no candidate is in flight. */
export function act(d: Draft, plan: Plan, requests: number[], why: 'change' | 'retry'): void {
  if (why === 'change') {
    d.s = { ...d.s, retryAttempt: 0 };
    disarm(d, 'retry');
  }
  const active = activeOf(d.s);
  const p = d.s.phase;
  switch (plan.kind) {
    case 'disabled':
    case 'empty': {
      const wasRunning = active !== null || p.phase === 'backoff';
      retireAll(d);
      d.s = plan.kind === 'disabled'
        ? { ...d.s, phase: { phase: 'disabled' }, reason: 'agent.beyla.enabled is false' }
        : { ...d.s, phase: { phase: 'idle' }, reason: 'no services to instrument (agent.beyla.when_empty: stop)' };
      const result: ApplyResult = plan.kind === 'disabled' ? 'disabled' : wasRunning ? 'stopped' : 'unchanged';
      d.s = { ...d.s, waiters: [...d.s.waiters, { requests, result, afterExit: liveGenerations(d.s) }] };
      return;
    }
    case 'missing-binary':
      if (!d.s.binaryMissing) log(d, 'error', plan.message, { binary: plan.binary, ...(plan.hint ? { hint: plan.hint } : {}) });
      disarm(d, 'restart');
      d.s = { ...d.s, phase: { phase: 'unavailable', active }, binaryMissing: true, reason: plan.message };
      arm(d, 'recheck', d.at + d.s.timing.binaryRecheckMs);
      resolve(d, requests, 'unavailable', plan.message);
      return;
    case 'invalid':
      log(d, 'error', 'cannot render the Beyla config', { error: plan.message });
      d.s = { ...d.s, phase: active ? { phase: 'ready', active } : p.phase === 'backoff' ? p : { phase: 'failed' }, reason: plan.message };
      resolve(d, requests, 'failed', plan.message);
      return;
    case 'run':
      break;
  }
  const { target } = plan;
  if (d.s.binaryMissing) log(d, 'info', 'Beyla binary found', { binary: target.binary });
  d.s = { ...d.s, binaryMissing: false };
  disarm(d, 'recheck');
  const survivor = active ? undefined : matchingSurvivor(d, target);
  if (survivor) {
    startCandidate(d, { target, reason: 'config_change', why, requests, adopt: survivor });
    return;
  }
  if (active && active.target.key === target.key) {
    d.s = { ...d.s, phase: { phase: 'ready', active: { ...active, target } }, reason: null };
    resolve(d, requests, 'unchanged');
    return;
  }
  if (!active && p.phase === 'backoff' && p.crashed.target.key === target.key) {
    resolve(d, requests, 'failed', `Beyla crashed; restart of the same config scheduled in ${Math.max(0, p.crashed.restartAt - d.at)} ms`);
    return;
  }
  startCandidate(d, { target, reason: 'config_change', why, requests });
}
