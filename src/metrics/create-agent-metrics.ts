// The daemon-level metrics (reloads, generation, rejected drop-ins), built once on a registry.
import client from 'prom-client';
import type { Registry } from './create-registry.js';

export type ReloadResult = 'success' | 'invalid' | 'failed' | 'unchanged';

export const RELOAD_RESULTS: readonly ReloadResult[] = ['success', 'invalid', 'failed', 'unchanged'];

export interface AgentMetrics {
  /** `coral_agent_reloads_total{result}`: one increment per reconcile, by outcome. */
  reloads: client.Counter<'result'>;
  /** `coral_agent_last_successful_reload_timestamp_seconds`: unix seconds of the last applied change. */
  lastSuccessfulReload: client.Gauge;
  /** `coral_agent_rejected_dropins`: drop-in files currently invalid (stale or rejected). */
  rejectedDropins: client.Gauge;
  /** `coral_agent_main_config_rejected`: 1 while coral.yaml is invalid (its last good content is kept), else 0. */
  mainConfigRejected: client.Gauge;
  /** `coral_agent_configured_services`: services in the current configuration (coral.yaml and drop-ins). */
  configuredServices: client.Gauge;
  /** `coral_agent_configured_ports`: distinct ports those services name. */
  configuredPorts: client.Gauge;
  /** `coral_agent_config_change_to_applied_seconds`: from the first file event to Beyla running the result. */
  changeToApplied: client.Histogram;
  /** `coral_agent_generation`: generation number of the applied configuration. */
  generation: client.Gauge;
  /** Count one reload outcome; on success also stamp the last-successful time. */
  recordReload(result: ReloadResult, at?: Date): void;
}

/** Buckets from 0.1 s to 120 s: debounce-sized changes up to a slow Beyla start-up. */
export const CHANGE_TO_APPLIED_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120];

export function createAgentMetrics(registry: Registry): AgentMetrics {
  const registers = [registry];
  const reloads = new client.Counter({
    name: 'coral_agent_reloads_total',
    help: 'Configuration reloads by result (success, invalid, failed, unchanged).',
    labelNames: ['result'] as const,
    registers,
  });
  // Every result series exists from the start so rate() works before the first failure.
  for (const result of RELOAD_RESULTS) reloads.inc({ result }, 0);
  const lastSuccessfulReload = new client.Gauge({
    name: 'coral_agent_last_successful_reload_timestamp_seconds',
    help: 'Unix time of the last reload that applied a new configuration.',
    registers,
  });
  const rejectedDropins = new client.Gauge({
    name: 'coral_agent_rejected_dropins',
    help: 'Drop-in files that are currently invalid (their last good content, if any, is kept).',
    registers,
  });
  const mainConfigRejected = new client.Gauge({
    name: 'coral_agent_main_config_rejected',
    help: '1 while the main file (coral.yaml) is invalid and its last good content is kept, else 0.',
    registers,
  });
  const configuredServices = new client.Gauge({
    name: 'coral_agent_configured_services',
    help: 'Services in the current configuration (coral.yaml and the valid or last good drop-ins).',
    registers,
  });
  const configuredPorts = new client.Gauge({
    name: 'coral_agent_configured_ports',
    help: 'Distinct ports the configured services name (compare beyla_discovery_ports_count).',
    registers,
  });
  const changeToApplied = new client.Histogram({
    name: 'coral_agent_config_change_to_applied_seconds',
    help: 'Time from a configuration change being seen to Beyla running the result.',
    buckets: CHANGE_TO_APPLIED_BUCKETS,
    registers,
  });
  const generation = new client.Gauge({
    name: 'coral_agent_generation',
    help: 'Generation number of the applied configuration.',
    registers,
  });
  return {
    reloads,
    lastSuccessfulReload,
    rejectedDropins,
    mainConfigRejected,
    configuredServices,
    configuredPorts,
    changeToApplied,
    generation,
    recordReload(result, at = new Date()) {
      reloads.inc({ result });
      if (result === 'success') lastSuccessfulReload.set(at.getTime() / 1000);
    },
  };
}
