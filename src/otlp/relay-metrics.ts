// createRelayMetrics: the OTLP relay's counters and upstream latency histogram (coral_agent_otlp_*).
import client from 'prom-client';
import type { Registry } from 'prom-client';

export type DropReason = 'inactive' | 'overloaded' | 'too_large' | 'upstream_error' | 'timeout' | 'client_error';

export interface RelayMetrics {
  forwarded: client.Counter<'signal' | 'code'>;
  dropped: client.Counter<'reason'>;
  itemsDropped: client.Counter<'signal'>;
  latency: client.Histogram<'signal'>;
}

export function createRelayMetrics(registry: Registry): RelayMetrics {
  return {
    forwarded: new client.Counter({ name: 'coral_agent_otlp_forwarded_total', help: "OTLP requests forwarded to the user's endpoint (whole, or without the items another Beyla generation sends), by signal and upstream status code.", labelNames: ['signal', 'code'], registers: [registry] }),
    dropped: new client.Counter({ name: 'coral_agent_otlp_dropped_total', help: 'OTLP requests not forwarded: inactive (every item is another generation\'s, answered with success), overloaded (503), too_large (413), upstream_error (502), timeout (504), client_error.', labelNames: ['reason'], registers: [registry] }),
    itemsDropped: new client.Counter({ name: 'coral_agent_otlp_items_dropped_total', help: 'Spans and metric data points taken out of a forwarded OTLP request because the other Beyla generation of a swap sends them.', labelNames: ['signal'], registers: [registry] }),
    latency: new client.Histogram({ name: 'coral_agent_otlp_upstream_duration_seconds', help: "Time from forwarding an OTLP request to the user's endpoint answering.", labelNames: ['signal'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
  };
}
