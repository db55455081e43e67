// The composition root: wires config, watcher, reconciler (the run is reconcile-run.ts), Beyla supervisor, health, control, metrics and systemd.
import { mkdir } from 'node:fs/promises';
import { loadValidators } from '../config/schema-validate.js';
import { createBeylaStateMetrics } from '../beyla/create-beyla-state-metrics.js';
import type { SupervisorStatus } from '../beyla/supervisor.js';
import { startControlServer, type ControlServer } from '../control/start-control-server.js';
import { HealthMonitor } from '../health/health-monitor.js';
import type { Logger } from '../log.js';
import { createAgentMetrics } from '../metrics/create-agent-metrics.js';
import { createRegistry } from '../metrics/create-registry.js';
import { startMetricsServer, type MetricsServer } from '../metrics/start-metrics-server.js';
import { ContinuityHolder } from '../metrics/continuity-holder.js';
import { OtlpRelayHolder } from '../otlp/otlp-relay-holder.js';
import { scrubEnv } from '../beyla/scrub-env.js';
import { fetchText } from '../beyla/fetch-text.js';
import { Reconciler } from '../reconcile/reconciler.js';
import { DropInCache } from '../store/drop-in-cache.js';
import { loadSnapshot } from '../store/load-snapshot.js';
import { LiveServicesView } from '../store/services-view.js';
import { createNotifier } from '../systemd/notifier.js';
import type { DirtyReason } from '../watch/watch-config.js';
import { awaitStartup } from './await-startup.js';
import { ConfigWatch } from './config-watch.js';
import { controlHandlers } from './control-handlers.js';
import { createDaemonSupervisor } from './create-daemon-supervisor.js';
import { describeDaemon } from './daemon-status.js';
import { unitNetworkWarning } from './unit-network-warning.js';
import { ReconcileRun, type ReconcileResult } from './reconcile-run.js';
import { DegradedMode, planStart } from './degraded-start.js';
import { RejectedSince } from './rejected-since.js';
import { lockRuntimeDir } from './runtime-dir-lock.js';
import { ShutdownSteps } from './shutdown-steps.js';
import { formatStatusLine, SnapshotCounts } from './status-line.js';

export interface DaemonOptions {
  configPath?: string | undefined;
  env: NodeJS.ProcessEnv;
  flags: Record<string, string | undefined>;
  logger: Logger;
  /** Aborting it during start-up stops everything started so far; startDaemon then rejects. */
  signal?: AbortSignal;
  /** Refuse to start on an invalid coral.yaml even when a last good configuration is saved. */
  strict?: boolean;
}

export type { ReconcileResult } from './reconcile-run.js';

export interface Daemon {
  status(): Record<string, unknown>;
  /** Ordered shutdown; resolves when every process and server is gone. */
  stop(reason: string): Promise<void>;
  reload(): Promise<ReconcileResult>;
}

/** Starts everything and applies the first snapshot; resolves once READY=1 has been sent. */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { env, flags } = opts;
  const log = opts.logger;
  const startedAt = new Date();
  const validators = await loadValidators();
  const first = await loadSnapshot({ configPath: opts.configPath, env, flags, validators });
  // An invalid coral.yaml: run degraded on the last good configuration, or refuse as before.
  const plan = await planStart({ first, env, strict: opts.strict ?? false, logger: log });
  /** The settings at start-up; the reconcile run keeps the current ones. */
  const settings = plan.snapshot.settings;
  log.level = settings.logLevel;
  const unitWarning = unitNetworkWarning(env, settings.metrics.listen, settings.configPath);
  if (unitWarning) log.warn({ listen: settings.metrics.listen, hint: unitWarning.hint }, unitWarning.message);
  const notifier = createNotifier({ env, logger: log });
  notifier.status(`starting: ${first.snapshot.services.length} service${first.snapshot.services.length === 1 ? "" : "s"} configured`);

  const abort = new AbortController();
  const registry = createRegistry();
  const degraded = new DegradedMode(plan, registry, log);
  const metrics = createAgentMetrics(registry);
  await mkdir(settings.runtimeDir, { recursive: true, mode: 0o750 });
  // One agent per runtime dir, before anything else starts (a second one would sweep the first's Beyla).
  const runtimeLock = await lockRuntimeDir(settings.runtimeDir);

  /**
   * Reconciles look only at the drop-ins the watcher named and re-read those whose identity changed;
   * a resync lists and stats every file, a reload or every 15 min reads all.
   */
  const dropInCache = new DropInCache({ hinted: true });
  /** What `coral connect` checks against, kept current in O(changes) (src/store/services-view.ts). */
  const servicesView = new LiveServicesView({ configPath: settings.configPath, env, flags, validators, cache: dropInCache });
  let metricsServer: MetricsServer | undefined;
  let control: ControlServer | undefined;
  let ready = false;

  const counts = new SnapshotCounts();
  const statusLine = (beyla: SupervisorStatus = supervisor.status()): string => formatStatusLine({
    ...counts.of(reconcile.snapshot), generation: beyla.generation, beyla, starting: !ready, degraded: degraded.current,
  });
  const pushStatus = (beyla?: SupervisorStatus): void => notifier.status(statusLine(beyla));

  const beylaState = createBeylaStateMetrics(registry);
  const continuity = new ContinuityHolder({
    enabled: settings.metrics.continuity,
    fetchText: (url, signal) => fetchText(url, { timeoutMs: 1000, signal }),
    logger: log,
  });
  // OTLP export is relayed so that each span and point reaches the user's collector from one generation; re-planned at each apply.
  const otlp = await OtlpRelayHolder.start(settings.beyla, { beylaEnv: (beyla) => scrubEnv(env, beyla.env), registry, logger: log });
  const supervisor = createDaemonSupervisor({
    settings, env, logger: log, registry, otlp, continuity, beylaState,
    onStatus: pushStatus,
    // The watcher also resolves services_dir again, which a lost event may have re-pointed.
    onResync: () => (watch.started ? watch.resyncSoon('fds_recovered') : onDirty({ kind: 'resync', event: 'fds_recovered' })),
  });
  const health = new HealthMonitor({ logger: log, registry, defaults: settings.health, signal: abort.signal });

  const cleanup = new ShutdownSteps();
  cleanup.push('runtime_lock', () => runtimeLock.release()); // released last: after Beyla is stopped
  cleanup.push('otlp_relay', () => otlp.close());
  // What listens to the abort (health checks, reconciler, watcher, watchdog) stops in the first step.
  const stopAll = (): Promise<void> => cleanup.run(log, { name: 'abort', undo: () => abort.abort() });

  const onDirty = (reason: DirtyReason): void => {
    servicesView.markDirty(reason.kind === 'resync' ? undefined : reason.path);
    dropInCache.hint(reason.kind === 'resync' ? undefined : reason.path);
    reconcile.markDirty();
    reconciler.trigger(reason.kind === 'resync' ? 'resync' : `${reason.event ?? 'event'} ${reason.path ?? ''}`.trim());
  };
  const watch = new ConfigWatch({ settings: () => reconcile.settings, servicesDir: settings.servicesDir, logger: log, signal: abort.signal, onDirty });

  const rejectedSince = new RejectedSince();
  const reconcile = new ReconcileRun({
    settings, env, flags, validators, cache: dropInCache, supervisor, health, metrics,
    onSettings: async (next, _before, logger) => {
      reconciler.setTiming(next.beyla.debounceMs, next.beyla.maxWaitMs);
      log.level = next.logLevel;
      await otlp.apply(next.beyla, logger, () => {
        const now = supervisor.status();
        return { active: now.generation, running: now.instances.map((i) => i.generation) };
      });
      await watch.follow(next, logger);
    },
    onResult: () => {
      rejectedSince.update(reconcile.snapshot);
      void degraded.record(reconcile.snapshot);
      pushStatus();
    },
  });

  reconcile.snapshot = plan.previous;

  const reconciler = new Reconciler<ReconcileResult>({
    deps: { run: reconcile.run },
    debounceMs: settings.beyla.debounceMs,
    maxWaitMs: settings.beyla.maxWaitMs,
    logger: log,
    signal: abort.signal,
  });

  const status = (): Record<string, unknown> => describeDaemon({
    ready,
    pid: process.pid,
    startedAt,
    settings: reconcile.settings,
    snapshot: reconcile.snapshot,
    lastResult: reconcile.lastResult,
    pending: reconcile.dirtySince !== undefined,
    progress: reconciler.progress(),
    rejectedSince: (file) => rejectedSince.of(file),
    degraded: degraded.current,
    hostWarnings: unitWarning ? [unitWarning] : [],
    beyla: supervisor.status(),
    health: health.status(),
    statusLine: statusLine(),
  });

  const reload = async (): Promise<ReconcileResult> => {
    notifier.reloading();
    dropInCache.invalidate(); // an explicit reload reads every file
    try {
      return await reconciler.triggerNow('reload');
    } finally {
      notifier.readyAfterReload(statusLine());
    }
  };

  try {
    cleanup.push('beyla', () => supervisor.stop());
    cleanup.push('health_checks', () => health.close());
    metricsServer = await startMetricsServer({ listen: settings.metrics.listen, registry, scrapeExtra: async () => continuity.serve(await supervisor.scrapeActiveTagged()), logger: log });
    cleanup.push('metrics_server', () => metricsServer?.close());
    control = await startControlServer({
      socketPath: settings.control.socket,
      logger: log,
      handlers: controlHandlers({
        supervisor, status, reload, log, signal: abort.signal,
        edits: {
          view: servicesView, validators, settings: () => reconcile.settings, socketPath: settings.control.socket, logger: log,
          extra: () => ({ beyla: supervisor.status(), debounceMs: reconcile.settings.beyla.debounceMs }),
        },
      }),
    });
    cleanup.push('control_server', () => control?.close());
    cleanup.push('reconciler', () => reconciler.close());
    await watch.start();
    cleanup.push('watcher', () => watch.close());
    cleanup.push('services_view', () => servicesView.close());
    await awaitStartup(reconciler.triggerNow('startup'), { timeoutMs: settings.startupTimeoutMs, signal: opts.signal });
  } catch (error) {
    if (opts.signal?.aborted) notifier.stopping();
    await stopAll();
    throw error;
  }

  ready = true;
  notifier.ready(statusLine());
  notifier.startWatchdog(abort.signal);
  log.info({ metrics: metricsServer.address, control: settings.control.socket, watch_mode: watch.mode }, `coral-agent ready: ${statusLine()}`);

  return {
    status,
    reload,
    stop: async (reason: string) => {
      log.info({ reason }, 'shutting down');
      notifier.stopping();
      await stopAll();
      log.info('stopped');
    },
  };
}
