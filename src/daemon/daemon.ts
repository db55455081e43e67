// The composition root: wires config, watcher, reconciler (the run is reconcile-run.ts), Beyla supervisor, health, control, metrics and systemd.
import { mkdir } from 'node:fs/promises';
import { countPorts, mergeRanges } from '../config/ports.js';
import { loadValidators } from '../config/schema-validate.js';
import { BeylaSupervisor } from '../beyla/supervisor.js';
import { createBeylaStateMetrics } from '../beyla/create-beyla-state-metrics.js';
import { startControlServer, type ControlServer } from '../control/start-control-server.js';
import { CoralError } from '../errors.js';
import { HealthMonitor } from '../health/health-monitor.js';
import type { Logger } from '../log.js';
import { createAgentMetrics } from '../metrics/create-agent-metrics.js';
import { createRegistry } from '../metrics/create-registry.js';
import { parseListen } from '../metrics/parse-listen.js';
import { startMetricsServer, type MetricsServer } from '../metrics/start-metrics-server.js';
import { ContinuityHolder } from '../metrics/continuity-holder.js';
import { OtlpRelayHolder } from '../otlp/otlp-relay-holder.js';
import { scrubEnv } from '../beyla/scrub-env.js';
import { fetchText } from '../beyla/fetch-text.js';
import { Reconciler } from '../reconcile/reconciler.js';
import { DropInCache } from '../store/drop-in-cache.js';
import { loadSnapshot } from '../store/load-snapshot.js';
import { LiveServicesView } from '../store/services-view.js';
import { createServiceEdits } from './service-edits.js';
import { createNotifier } from '../systemd/notifier.js';
import { watchConfig, type ConfigWatcher, type DirtyReason } from '../watch/watch-config.js';
import { describeDaemon } from './daemon-status.js';
import { unitNetworkWarning } from './unit-network-warning.js';
import { ReconcileRun, type ReconcileResult } from './reconcile-run.js';
import { DegradedMode, planStart } from './degraded-start.js';
import { RejectedSince } from './rejected-since.js';
import { lockRuntimeDir } from './runtime-dir-lock.js';
import { formatStatusLine } from './status-line.js';

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
  let watcher: ConfigWatcher | undefined;
  let watchedDir = settings.servicesDir;
  let metricsServer: MetricsServer | undefined;
  let control: ControlServer | undefined;
  let ready = false;

  const statusLine = (): string => formatStatusLine({
    generation: supervisor.status().generation,
    services: reconcile.snapshot?.services.length ?? 0,
    ports: countPorts(mergeRanges((reconcile.snapshot?.services ?? []).flatMap((s) => s.ports))),
    beyla: supervisor.status(),
    rejected: (reconcile.snapshot?.files ?? []).filter((f) => f.status !== 'valid').length,
    starting: !ready,
    degraded: degraded.current,
  });
  const pushStatus = (): void => notifier.status(statusLine());

  const beylaState = createBeylaStateMetrics(registry);
  const continuity = new ContinuityHolder({
    enabled: settings.metrics.continuity,
    fetchText: (url, signal) => fetchText(url, { timeoutMs: 1000, signal }),
    logger: log,
  });
  // OTLP export is relayed so that each span and point reaches the user's collector from one generation; re-planned at each apply.
  const otlp = await OtlpRelayHolder.start(settings.beyla, { beylaEnv: (beyla) => scrubEnv(env, beyla.env), registry, logger: log });
  const supervisor: BeylaSupervisor = new BeylaSupervisor({
    settings: settings.beyla,
    runtimeDir: settings.runtimeDir,
    logger: log,
    registry,
    excludePorts: [parseListen(settings.metrics.listen).port].filter((p) => p > 0),
    env,
    onState: (status) => {
      otlp.observe(status.generation, status.instances.map((i) => i.generation));
      beylaState.record(status);
      pushStatus();
    },
    onPromote: (from, to) => {
      otlp.cut(from.generation, to.generation);
      return continuity.promote(from, to);
    },
    instanceEnv: (generation): Record<string, string> => otlp.instanceEnv(generation),
    // Watch events may have been lost while the agent had no file descriptors: resync at once (the
    // watcher also resolves services_dir again, which a lost event may have re-pointed).
    onResync: () => (watcher ? watcher.resyncSoon('fds_recovered') : onDirty({ kind: 'resync', event: 'fds_recovered' })),
  });
  beylaState.record(supervisor.status());
  const health = new HealthMonitor({ logger: log, registry, defaults: settings.health, signal: abort.signal });

  const cleanup: Array<() => Promise<void> | void> = [];
  cleanup.push(() => runtimeLock.release()); // released last: after Beyla is stopped
  cleanup.push(() => otlp.close());
  const stopAll = async (): Promise<void> => {
    abort.abort();
    for (const step of cleanup.reverse()) {
      try {
        await step();
      } catch (error) {
        log.error({ err: error }, 'error during shutdown');
      }
    }
  };

  const onDirty = (reason: DirtyReason): void => {
    servicesView.markDirty(reason.kind === 'resync' ? undefined : reason.path);
    dropInCache.hint(reason.kind === 'resync' ? undefined : reason.path);
    reconcile.markDirty();
    reconciler.trigger(reason.kind === 'resync' ? 'resync' : `${reason.event ?? 'event'} ${reason.path ?? ''}`.trim());
  };

  const startWatcher = async (): Promise<void> => {
    const { settings } = reconcile;
    watcher = await watchConfig({
      configPath: settings.configPath,
      servicesDir: settings.servicesDir,
      resyncMs: settings.resyncMs,
      logger: log,
      signal: abort.signal,
      onDirty,
    });
    watchedDir = settings.servicesDir;
  };

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
      if (next.servicesDir !== watchedDir && watcher) {
        logger.info({ from: watchedDir, to: next.servicesDir }, 'services_dir changed: watching the new directory');
        await watcher.close();
        await startWatcher();
      }
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
    cleanup.push(() => supervisor.stop());
    cleanup.push(() => health.close());
    metricsServer = await startMetricsServer({ listen: settings.metrics.listen, registry, scrapeExtra: async () => continuity.serve(await supervisor.scrapeActiveTagged()), logger: log });
    cleanup.push(() => metricsServer?.close());
    control = await startControlServer({
      socketPath: settings.control.socket,
      logger: log,
      handlers: {
        // Which processes the active Beyla instruments, read fresh for each status (not only at scrapes).
        status: async () => {
          await supervisor.coverage().catch((error: unknown) => log.debug({ err: error }, 'could not read service coverage'));
          return status();
        },
        ...createServiceEdits({
          view: servicesView, validators, settings: () => reconcile.settings, socketPath: settings.control.socket, logger: log,
          extra: () => ({ beyla: supervisor.status(), debounceMs: reconcile.settings.beyla.debounceMs }),
        }),
        reload: async () => {
          const result = await reload();
          return { ok: result.ok, invalid: result.invalid, message: result.message, errors: result.errors, generation: result.generation, result: result.beyla.result };
        },
      },
    });
    cleanup.push(() => control?.close());
    cleanup.push(() => reconciler.close());
    await startWatcher();
    cleanup.push(() => watcher?.close());
    cleanup.push(() => servicesView.close());

    const startup = reconciler.triggerNow('startup');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CoralError('TEMPORARY', `start-up did not finish within agent.startup_timeout (${settings.startupTimeoutMs} ms)`, {
        hint: 'see the log above: Beyla may be slow to become ready (agent.beyla.readiness.timeout)',
      })), settings.startupTimeoutMs);
    });
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = (): void => reject(new CoralError('TEMPORARY', 'stopped during start-up'));
      if (opts.signal?.aborted) onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([startup, timeout, aborted]);
    } finally {
      clearTimeout(timer);
    }
  } catch (error) {
    if (opts.signal?.aborted) notifier.stopping();
    await stopAll();
    throw error;
  }

  ready = true;
  notifier.ready(statusLine());
  notifier.startWatchdog(abort.signal);
  log.info({ metrics: metricsServer.address, control: settings.control.socket, watch_mode: watcher?.mode }, `coral-agent ready: ${statusLine()}`);

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
