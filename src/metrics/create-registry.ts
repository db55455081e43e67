// The agent's Prometheus registry, with process metrics prefixed so they never collide with Beyla's.
import client from 'prom-client';

export type Registry = client.Registry;

export const METRIC_PREFIX = 'coral_agent_';

/** A fresh registry holding the default process metrics as `coral_agent_process_*`, `coral_agent_nodejs_*`. */
export function createRegistry(): Registry {
  const registry = new client.Registry();
  // The event-loop-lag monitor samples on a timer: prom-client's default 10 ms wakes an idle
  // agent 100 times a second; once a second keeps idle CPU near zero.
  client.collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX, eventLoopMonitoringPrecision: 1000 });
  return registry;
}
