// onLiveness: one liveness probe result of the active Beyla -> reset, count (Beyla's failure or the agent's own), or replace it as hung.
import { activeOf, log, type Draft } from './draft.js';
import { startCandidate } from './transitions.js';
import type { LifecycleEvent } from './types.js';

export function onLiveness(d: Draft, e: Extract<LifecycleEvent, { type: 'liveness' }>): void {
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
