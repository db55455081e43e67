// The supervisor's Prometheus metrics, registered on the agent's registry.
import client from 'prom-client';
import type { OutputLimitCounters } from './beyla-instance.js';
import { OWN_FAULTS } from '../lifecycle/types.js';
import { READINESS_FAILURE_REASONS } from './probe-readiness.js';

export type RestartReason = 'config_change' | 'crash' | 'unresponsive';
export const RESTART_REASONS: readonly RestartReason[] = ['config_change', 'crash', 'unresponsive'];

export interface BeylaMetrics {
  /** `beyla_restarts_total{reason}`: Beyla processes replaced, because the config changed, the old one crashed, or it stopped answering /healthz. */
  restarts: client.Counter<'reason'>;
  /** `beyla_discovery_ports_count`: ports the active instance's discovery selects. */
  discoveryPortsCount: client.Gauge;
  /** `coral_agent_beyla_up`: 1 while an instance is active (ready and serving). */
  up: client.Gauge;
  /** `coral_agent_beyla_generation`: generation number of the active instance. */
  generation: client.Gauge;
  /** `coral_agent_beyla_readiness_failures_total{reason}`: new instances that never got ready, by why. */
  readinessFailures: client.Counter<'reason'>;
  /** `coral_agent_beyla_handover_duration_seconds`: from a candidate's spawn to it instrumenting what it must. */
  handoverSeconds: client.Histogram;
  /** `coral_agent_beyla_swap_duration_seconds`: from the decision to swap to the new instance promoted. */
  swapSeconds: client.Histogram;
  /** `coral_agent_beyla_scrape_errors_total`: shared with the stable metrics server (get-or-create). */
  scrapeErrors: client.Counter;
  /** `coral_agent_beyla_liveness_own_faults_total{reason}`: liveness probes that failed for the agent's own reasons. */
  livenessOwnFaults: client.Counter<'reason'>;
  /** `coral_agent_beyla_log_lines_dropped_total`: Beyla output lines not forwarded into the agent's log (rate limit). */
  logLinesDropped: client.Counter;
  /** `coral_agent_beyla_log_lines_truncated_total`: Beyla output lines cut at the line cap. */
  logLinesTruncated: client.Counter;
}

const SCRAPE_ERRORS = 'coral_agent_beyla_scrape_errors_total';

function scrapeErrorCounter(registry: client.Registry): client.Counter {
  const existing = registry.getSingleMetric(SCRAPE_ERRORS);
  if (existing) return existing as client.Counter;
  return new client.Counter({
    name: SCRAPE_ERRORS,
    help: "Scrapes where the active Beyla instance's metrics could not be fetched (the agent's were served alone).",
    registers: [registry],
  });
}

export const SWAP_BUCKETS = [0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60];

/**
 * `coral_agent_services_instrumented` / `coral_agent_services_uninstrumented`: configured services
 * whose every listening process the active Beyla has instrumented, and those with a listener it has
 * not. A service with no listener is in neither. Computed at each scrape from `coverage`.
 */
export function createCoverageGauges(registry: client.Registry, coverage: () => Promise<ReadonlyArray<{ pids: number[]; instrumentedPids: number[] }>>): void {
  let last: Promise<ReadonlyArray<{ pids: number[]; instrumentedPids: number[] }>> | null = null;
  const current = (): Promise<ReadonlyArray<{ pids: number[]; instrumentedPids: number[] }>> => {
    // Both gauges are collected in one scrape: compute once for both.
    last ??= coverage().catch(() => []).finally(() => setImmediate(() => { last = null; }));
    return last;
  };
  new client.Gauge({
    name: 'coral_agent_services_instrumented',
    help: 'Configured services whose every listening process the active Beyla instance has instrumented (its instrumenting process log lines).',
    registers: [registry],
    async collect() {
      this.set((await current()).filter((s) => s.pids.length > 0 && s.instrumentedPids.length === s.pids.length).length);
    },
  });
  new client.Gauge({
    name: 'coral_agent_services_uninstrumented',
    help: 'Configured services with a listening process the active Beyla instance has not instrumented (none active: every service with a listener).',
    registers: [registry],
    async collect() {
      this.set((await current()).filter((s) => s.pids.length > s.instrumentedPids.length).length);
    },
  });
}

/** The instance-side counters of Beyla's output limits, wired to the Prometheus ones. */
export function outputLimitCounters(metrics: Pick<BeylaMetrics, 'logLinesDropped' | 'logLinesTruncated'>): OutputLimitCounters {
  return { dropped: () => metrics.logLinesDropped.inc(), truncated: () => metrics.logLinesTruncated.inc() };
}

export function createBeylaMetrics(registry: client.Registry): BeylaMetrics {
  const registers = [registry];
  const restarts = new client.Counter({
    name: 'beyla_restarts_total',
    help: 'Beyla processes started to replace another, by reason (config_change, crash, unresponsive).',
    labelNames: ['reason'] as const,
    registers,
  });
  for (const reason of RESTART_REASONS) restarts.inc({ reason }, 0);
  const readinessFailures = new client.Counter({
    name: 'coral_agent_beyla_readiness_failures_total',
    help: 'New Beyla instances stopped because they did not get ready, by reason (exited, fatal, timeout, not_instrumented, cannot_run, spawn, stopping).',
    labelNames: ['reason'] as const,
    registers,
  });
  for (const reason of READINESS_FAILURE_REASONS) readinessFailures.inc({ reason }, 0);
  const livenessOwnFaults = new client.Counter({
    name: 'coral_agent_beyla_liveness_own_faults_total',
    help: "Liveness probes of the active Beyla that failed for the agent's own reasons and were not counted against Beyla, by reason (emfile, enfile, resources, event_loop_lag).",
    labelNames: ['reason'] as const,
    registers,
  });
  for (const reason of OWN_FAULTS) livenessOwnFaults.inc({ reason }, 0);
  return {
    restarts,
    discoveryPortsCount: new client.Gauge({
      name: 'beyla_discovery_ports_count',
      help: 'Ports selected by the active Beyla instance\'s discovery configuration.',
      registers,
    }),
    up: new client.Gauge({ name: 'coral_agent_beyla_up', help: '1 while a Beyla instance is active and ready, else 0.', registers }),
    generation: new client.Gauge({ name: 'coral_agent_beyla_generation', help: 'Generation number of the active Beyla instance.', registers }),
    readinessFailures,
    livenessOwnFaults,
    handoverSeconds: new client.Histogram({
      name: 'coral_agent_beyla_handover_duration_seconds',
      help: 'Time from a new Beyla instance spawned to it instrumenting every process the old one did and every selected listener (eBPF load included).',
      buckets: SWAP_BUCKETS,
      registers,
    }),
    swapSeconds: new client.Histogram({
      name: 'coral_agent_beyla_swap_duration_seconds',
      help: 'Time from the decision to start a new Beyla instance to it being promoted.',
      buckets: SWAP_BUCKETS,
      registers,
    }),
    scrapeErrors: scrapeErrorCounter(registry),
    logLinesDropped: new client.Counter({
      name: 'coral_agent_beyla_log_lines_dropped_total',
      help: "Beyla output lines not forwarded into the agent's log because of the forwarding rate limit (still checked for fatal lines).",
      registers,
    }),
    logLinesTruncated: new client.Counter({
      name: 'coral_agent_beyla_log_lines_truncated_total',
      help: 'Beyla output lines longer than the line cap (64 KiB): logged cut, with truncated=N bytes, the rest discarded to the newline.',
      registers,
    }),
  };
}
