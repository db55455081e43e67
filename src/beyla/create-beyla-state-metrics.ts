// Beyla's supervisor state as Prometheus series: one gauge per state (1 for the current one) and whether the crash circuit is open.
import client from 'prom-client';
import type { SupervisorState } from './supervisor.js';

export const SUPERVISOR_STATES: readonly SupervisorState[] = ['idle', 'starting', 'swapping', 'ready', 'degraded', 'unavailable', 'stopping', 'stopped', 'disabled'];

export interface BeylaStateMetrics {
  /** Sets `coral_agent_beyla_state{state}` (1 for `state`, 0 for the others) and `coral_agent_beyla_circuit_open`. */
  record(status: { state: SupervisorState; circuitOpen: boolean }): void;
}

export function createBeylaStateMetrics(registry: client.Registry): BeylaStateMetrics {
  const registers = [registry];
  const state = new client.Gauge({
    name: 'coral_agent_beyla_state',
    help: 'The Beyla supervisor state: 1 for the current state (idle, starting, swapping, ready, degraded, unavailable, stopping, stopped, disabled), 0 for the others.',
    labelNames: ['state'] as const,
    registers,
  });
  const circuitOpen = new client.Gauge({
    name: 'coral_agent_beyla_circuit_open',
    help: '1 while Beyla crashed too often in a short time and restarts are slowed down (the crash circuit is open), else 0.',
    registers,
  });
  return {
    record(status) {
      for (const s of SUPERVISOR_STATES) state.set({ state: s }, s === status.state ? 1 : 0);
      circuitOpen.set(status.circuitOpen ? 1 : 0);
    },
  };
}
