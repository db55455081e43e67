// The agent's Prometheus registry, with process metrics prefixed so they never collide with Beyla's.
import client from 'prom-client';

export type Registry = client.Registry;

export const METRIC_PREFIX = 'coral_agent_';

/** A fresh registry holding the default process metrics as `coral_agent_process_*`, `coral_agent_nodejs_*`. */
export function createRegistry(): Registry {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return registry;
}
