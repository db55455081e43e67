// The agent's Prometheus registry, with process metrics prefixed so they never collide with Beyla's.
import client from 'prom-client';
import { LAG_METRIC_NAMES, registerEventLoopLag } from './event-loop-lag.js';

export type Registry = client.Registry;

export const METRIC_PREFIX = 'coral_agent_';

/** prom-client's own delay monitor is replaced (see event-loop-lag.ts): it only needs to stay asleep. */
const UNUSED_MONITOR_RESOLUTION_MS = 2 ** 31 - 1;

/** A fresh registry holding the default process metrics as `coral_agent_process_*`, `coral_agent_nodejs_*`. */
export function createRegistry(): Registry {
  const registry = new client.Registry();
  // prom-client reports its histogram raw: every value includes the sampling interval (an idle
  // agent sampled once a second showed ~1 s of lag) and an empty window reads 2^63-1 ns and NaN.
  client.collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX, eventLoopMonitoringPrecision: UNUSED_MONITOR_RESOLUTION_MS });
  for (const name of LAG_METRIC_NAMES) registry.removeSingleMetric(`${METRIC_PREFIX}${name}`);
  registerEventLoopLag(registry, METRIC_PREFIX);
  return registry;
}
