// createDaemonSupervisor: the daemon's Beyla supervisor, wired to the OTLP relay, counter continuity, the Beyla state metrics and STATUS=.
import type { Registry } from 'prom-client';
import type { BeylaStateMetrics } from '../beyla/create-beyla-state-metrics.js';
import { BeylaSupervisor, type SupervisorStatus } from '../beyla/supervisor.js';
import type { AgentSettings } from '../config/types.js';
import type { Logger } from '../log.js';
import type { ContinuityHolder } from '../metrics/continuity-holder.js';
import { parseListen } from '../metrics/parse-listen.js';
import type { OtlpRelayHolder } from '../otlp/otlp-relay-holder.js';

export interface DaemonSupervisorOptions {
  /** The settings at start-up. */
  settings: AgentSettings;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  registry: Registry;
  otlp: OtlpRelayHolder;
  continuity: ContinuityHolder;
  /** Created by the caller, before the relay's metrics, so the registry keeps its order. */
  beylaState: BeylaStateMetrics;
  /** After each status change, once the relay and the state metrics have seen it. */
  onStatus: (status: SupervisorStatus) => void;
  /** Watch events may have been lost (the agent had no file descriptors): resync at once. */
  onResync: () => void;
}

export function createDaemonSupervisor(opts: DaemonSupervisorOptions): BeylaSupervisor {
  const { settings, otlp, continuity, beylaState } = opts;
  const supervisor: BeylaSupervisor = new BeylaSupervisor({
    settings: settings.beyla,
    runtimeDir: settings.runtimeDir,
    logger: opts.logger,
    registry: opts.registry,
    excludePorts: [parseListen(settings.metrics.listen).port].filter((p) => p > 0),
    env: opts.env,
    onState: (status) => {
      otlp.observe(status.generation, status.instances.map((i) => i.generation));
      beylaState.record(status);
      opts.onStatus(status);
    },
    onPromote: (from, to) => {
      otlp.cut(from.generation, to.generation);
      return continuity.promote(from, to);
    },
    instanceEnv: (generation): Record<string, string> => otlp.instanceEnv(generation),
    onResync: () => opts.onResync(),
  });
  beylaState.record(supervisor.status());
  return supervisor;
}
