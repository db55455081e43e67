// The metrics edge: registry, daemon-level metrics and the stable scrape address.
export { createRegistry, METRIC_PREFIX, type Registry } from './create-registry.js';
export {
  createAgentMetrics,
  CHANGE_TO_APPLIED_BUCKETS,
  RELOAD_RESULTS,
  type AgentMetrics,
  type ReloadResult,
} from './create-agent-metrics.js';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './start-metrics-server.js';
export { mergeExposition, type MergeResult } from './merge-exposition.js';
export { parseListen, type ListenAddress } from './parse-listen.js';
