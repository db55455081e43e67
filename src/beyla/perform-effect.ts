// performEffect: carries out one of step()'s effects for the Beyla supervisor (processes, timers, answers, metrics, logs).
import type { Effect, TimerName } from '../lifecycle/types.js';
import type { ApplyRequests } from './apply-requests.js';
import type { BeylaMetrics } from './create-beyla-metrics.js';
import type { DesiredMailbox } from './desired-mailbox.js';
import { runAdoption } from './run-adoption.js';
import { runCandidate, type CandidateHost } from './run-candidate.js';

/** What the supervisor lends its effects. */
export interface EffectHost {
  /** The supervisor as candidates and adoptions see it (instances, probes, queue, log). */
  readonly candidates: CandidateHost;
  readonly metrics: BeylaMetrics;
  readonly timers: Map<TimerName, NodeJS.Timeout>;
  readonly requests: ApplyRequests;
  readonly mailbox: DesiredMailbox;
  /** Makes this generation's instance (if it is still there) the active one. */
  promote(generation: number): void;
  /** Stops treating this generation as the active one, if it is. */
  deactivate(generation: number): void;
  resync(): void;
}

export function performEffect(host: EffectHost, effect: Effect): void {
  const { candidates } = host;
  switch (effect.type) {
    case 'spawn': void runCandidate(candidates, effect); return;
    case 'adopt': void runAdoption(candidates, effect); return;
    case 'promote': host.promote(effect.generation); return;
    case 'deactivate': host.deactivate(effect.generation); return;
    case 'terminate':
    case 'kill': {
      candidates.probes.get(effect.generation)?.abort();
      const instance = candidates.instances.get(effect.generation);
      if (!instance) candidates.cancelled.add(effect.generation);
      else void (effect.type === 'kill' ? instance.kill() : instance.stop(effect.graceMs));
      return;
    }
    case 'arm': {
      clearTimeout(host.timers.get(effect.timer));
      const timer = effect.timer;
      host.timers.set(timer, setTimeout(() => {
        host.timers.delete(timer);
        candidates.enqueue(() => ({ type: 'timer', at: Date.now(), timer }));
      }, Math.max(0, effect.at - Date.now())));
      return;
    }
    case 'disarm':
      clearTimeout(host.timers.get(effect.timer));
      host.timers.delete(effect.timer);
      return;
    case 'resolve': host.requests.answer(effect.requests, effect.result, effect.error, effect.spawnMs); return;
    case 'replan': {
      const latest = host.mailbox.latest;
      if (!latest || candidates.abort.signal.aborted) return;
      candidates.enqueue(() => host.mailbox.replan(latest));
      return;
    }
    case 'count-restart': host.metrics.restarts.inc({ reason: effect.reason }); return;
    case 'count-readiness-failure': host.metrics.readinessFailures.inc({ reason: effect.reason }); return;
    case 'count-own-fault': host.metrics.livenessOwnFaults.inc({ reason: effect.reason }); return;
    case 'resync': host.resync(); return;
    case 'observe-handover': host.metrics.handoverSeconds.observe(effect.seconds); return;
    case 'observe-swap': host.metrics.swapSeconds.observe(effect.seconds); return;
    case 'log': candidates.log[effect.level](effect.fields, effect.msg); return;
  }
}
