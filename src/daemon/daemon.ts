// The composition root: wires config, watcher, reconciler, Beyla supervisor, health, control, metrics and systemd.
import { mkdir } from 'node:fs/promises';
import { countPorts, formatRanges, mergeRanges } from '../config/ports.js';
import { loadValidators } from '../config/schema-validate.js';
import type { Diagnostic, Snapshot } from '../config/types.js';
import { BeylaSupervisor, type ApplyOutcome } from '../beyla/supervisor.js';
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
import { fetchText } from '../beyla/fetch-text.js';
import { describeChange, formatChange, type Change } from '../plan/describe-change.js';
import { desiredState } from '../plan/desired-state.js';
import { Reconciler } from '../reconcile/reconciler.js';
import { DropInCache } from '../store/drop-in-cache.js';
import { loadSnapshot } from '../store/load-snapshot.js';
import { createNotifier } from '../systemd/notifier.js';
import { watchConfig, type ConfigWatcher, type DirtyReason } from '../watch/watch-config.js';
import { formatStatusLine } from './status-line.js';

export interface DaemonOptions {
  configPath?: string | undefined;
  env: NodeJS.ProcessEnv;
  flags: Record<string, string | undefined>;
  logger: Logger;
  /** Aborting it during start-up stops everything started so far; startDaemon then rejects. */
  signal?: AbortSignal;
}

/** What one reconcile did; the reload API returns it. */
export interface ReconcileResult {
  ok: boolean;
  /** A file was invalid (as opposed to a valid configuration that Beyla failed to apply). */
  invalid: boolean;
  message: string;
  generation: number;
  change: Change;
  beyla: ApplyOutcome;
  errors: Diagnostic[];
  at: string;
}

export interface Daemon {
  status(): Record<string, unknown>;
  /** Ordered shutdown; resolves when every process and server is gone. */
  stop(reason: string): Promise<void>;
  reload(): Promise<ReconcileResult>;
}

function diagnosticKey(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}:${d.severity}:${d.message}`;
}

/** Starts everything and applies the first snapshot; resolves once READY=1 has been sent. */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { env, flags } = opts;
  const log = opts.logger;
  const startedAt = new Date();
  const validators = await loadValidators();
  const first = await loadSnapshot({ configPath: opts.configPath, env, flags, validators });
  const firstErrors = first.snapshot.diagnostics.filter((d) => d.severity === 'error');
  if (!first.mainValid) {
    for (const d of firstErrors) log.error({ file: d.file, line: d.line, col: d.col, hint: d.hint }, d.message);
    throw new CoralError('INVALID_CONFIG', `${first.snapshot.settings.configPath} is invalid; not starting`, { hint: 'run: coral-agent check' });
  }
  let settings = first.snapshot.settings;
  log.level = settings.logLevel;
  const notifier = createNotifier({ env, logger: log });
  notifier.status(`starting: ${first.snapshot.services.length} services configured`);

  const abort = new AbortController();
  const registry = createRegistry();
  const metrics = createAgentMetrics(registry);
  await mkdir(settings.runtimeDir, { recursive: true, mode: 0o750 });

  let snapshot: Snapshot | undefined;
  /** Reconciles re-read only drop-ins whose identity changed; a reload or every 15 min reads all. */
  const dropInCache = new DropInCache();
  let lastResult: ReconcileResult | undefined;
  let dirtySince: number | undefined;
  const seenDiagnostics = new Set<string>();
  let watcher: ConfigWatcher | undefined;
  let watchedDir = settings.servicesDir;
  let metricsServer: MetricsServer | undefined;
  let control: ControlServer | undefined;
  let ready = false;

  const statusLine = (): string => formatStatusLine({
    generation: lastResult?.generation ?? 0,
    services: snapshot?.services.length ?? 0,
    ports: countPorts(mergeRanges((snapshot?.services ?? []).flatMap((s) => s.ports))),
    beyla: supervisor.status(),
    rejected: (snapshot?.files ?? []).filter((f) => f.status !== 'valid').length,
    starting: !ready,
  });
  const pushStatus = (): void => notifier.status(statusLine());

  const beylaState = createBeylaStateMetrics(registry);
  const continuity = new ContinuityHolder({
    enabled: settings.metrics.continuity,
    fetchText: (url, signal) => fetchText(url, { timeoutMs: 1000, signal }),
    logger: log,
  });
  const supervisor = new BeylaSupervisor({
    settings: settings.beyla,
    runtimeDir: settings.runtimeDir,
    logger: log,
    registry,
    excludePorts: [parseListen(settings.metrics.listen).port].filter((p) => p > 0),
    env,
    onState: (status) => {
      beylaState.record(status);
      pushStatus();
    },
    onPromote: (from, to) => continuity.promote(from, to),
  });
  beylaState.record(supervisor.status());
  const health = new HealthMonitor({ logger: log, registry, defaults: settings.health, signal: abort.signal });

  const cleanup: Array<() => Promise<void> | void> = [];
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
    dirtySince ??= Date.now();
    reconciler.trigger(reason.kind === 'resync' ? 'resync' : `${reason.event ?? 'event'} ${reason.path ?? ''}`.trim());
  };

  const startWatcher = async (): Promise<void> => {
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

  const reconcileRun = async (ctx: { id: number; reason: string; logger: Logger }): Promise<ReconcileResult> => {
    const since = dirtySince ?? Date.now();
    dirtySince = undefined;
    const loaded = await loadSnapshot({ configPath: settings.configPath, env, flags, previous: snapshot, validators, cache: dropInCache });
    const next = loaded.snapshot;
    for (const d of next.diagnostics) {
      const key = diagnosticKey(d);
      if (seenDiagnostics.has(key)) continue;
      seenDiagnostics.add(key);
      const fields = { file: d.file, line: d.line, col: d.col, ...(d.hint ? { hint: d.hint } : {}) };
      if (d.severity === 'error') ctx.logger.error(fields, d.message);
      else ctx.logger.warn(fields, d.message);
    }
    const current = new Set(next.diagnostics.map(diagnosticKey));
    for (const key of seenDiagnostics) if (!current.has(key)) seenDiagnostics.delete(key);

    const change = describeChange(snapshot, next);
    if (loaded.mainValid) {
      const before = settings;
      settings = next.settings;
      reconciler.setTiming(settings.beyla.debounceMs, settings.beyla.maxWaitMs);
      log.level = settings.logLevel;
      for (const key of ['metrics', 'control', 'runtimeDir'] as const) {
        if (JSON.stringify(before[key]) !== JSON.stringify(settings[key])) {
          ctx.logger.warn({ setting: key }, `agent.${key === 'runtimeDir' ? 'runtime_dir' : key} changed: restart coral-agent to apply it`);
        }
      }
      if (settings.servicesDir !== watchedDir && watcher) {
        ctx.logger.info({ from: watchedDir, to: settings.servicesDir }, 'services_dir changed: watching the new directory');
        await watcher.close();
        await startWatcher();
      }
    }
    snapshot = next;
    health.update(next.services);
    const previousGeneration = supervisor.status().generation;
    const desired = desiredState(next.services);
    metrics.configuredServices.set(next.services.length);
    metrics.configuredPorts.set(countPorts(mergeRanges(next.services.flatMap((s) => s.ports))));
    const outcome = await supervisor.apply(desired, settings.beyla);
    const rejected = next.files.filter((f) => f.status !== 'valid');
    metrics.rejectedDropins.set(rejected.filter((f) => f.file !== settings.configPath).length);
    metrics.mainConfigRejected.set(rejected.some((f) => f.file === settings.configPath) ? 1 : 0);
    const errors = next.diagnostics.filter((d) => d.severity === 'error');
    const ok = loaded.invalidFiles.length === 0 && errors.length === 0 && outcome.result !== 'failed';
    const elapsedMs = Date.now() - since;
    const summary = formatChange(change);
    let message: string;
    switch (outcome.result) {
      case 'swapped':
      case 'started':
        message = `${summary}; Beyla generation ${previousGeneration} -> ${outcome.generation} in ${(elapsedMs / 1000).toFixed(1)}s`;
        metrics.changeToApplied.observe(elapsedMs / 1000);
        break;
      case 'stopped':
        message = `${summary}; no services left: Beyla stopped`;
        break;
      case 'unchanged':
        message = `${summary}; Beyla config unchanged (generation ${outcome.generation})`;
        break;
      case 'failed':
        message = `${summary}; new Beyla failed, generation ${outcome.generation} keeps running: ${outcome.error ?? 'unknown error'}`;
        break;
      case 'unavailable':
        message = `${summary}; Beyla unavailable: ${outcome.error ?? supervisor.status().reason ?? ''}`;
        break;
      case 'disabled':
        message = `${summary}; Beyla disabled (agent.beyla.enabled: false)`;
        break;
      case 'superseded':
        message = `${summary}; superseded by a newer change`;
        break;
    }
    metrics.recordReload(!loaded.mainValid || loaded.invalidFiles.length > 0 ? 'invalid' : outcome.result === 'failed' ? 'failed' : outcome.result === 'unchanged' ? 'unchanged' : 'success');
    metrics.generation.set(outcome.generation);
    const fields = { reason: ctx.reason, generation: outcome.generation, result: outcome.result, ports_added: formatRanges(change.added), ports_removed: formatRanges(change.removed), files: change.files, elapsed_ms: elapsedMs };
    if (outcome.result === 'failed') ctx.logger.warn(fields, message);
    else if (outcome.result === 'unchanged' && change.files.length === 0) ctx.logger.debug(fields, message);
    else ctx.logger.info(fields, message);
    const invalid = !loaded.mainValid || loaded.invalidFiles.length > 0 || errors.length > 0;
    lastResult = { ok, invalid, message, generation: outcome.generation, change, beyla: outcome, errors, at: new Date().toISOString() };
    pushStatus();
    return lastResult;
  };

  const reconciler = new Reconciler<ReconcileResult>({
    deps: { run: reconcileRun },
    debounceMs: settings.beyla.debounceMs,
    maxWaitMs: settings.beyla.maxWaitMs,
    logger: log,
    signal: abort.signal,
  });

  const status = (): Record<string, unknown> => {
    const beyla = supervisor.status();
    const desiredPorts = mergeRanges((snapshot?.services ?? []).flatMap((s) => s.ports));
    return {
      state: !ready ? 'starting' : beyla.state === 'degraded' ? 'degraded' : 'ready',
      pid: process.pid,
      startedAt: startedAt.toISOString(),
      config: settings.configPath,
      servicesDir: settings.servicesDir,
      generation: lastResult?.generation ?? 0,
      statusLine: statusLine(),
      desired: {
        ports: formatRanges(desiredPorts),
        services: (snapshot?.services ?? []).map((s) => ({
          name: s.name, ports: formatRanges(s.ports), exe: s.exe, type: s.type,
          health: s.health.kind === 'http' ? `http:${s.health.path ?? '/'}` : s.health.kind,
          source: `${s.source.file}:${s.source.line}`,
        })),
      },
      applied: { ports: beyla.portsString, generation: beyla.generation, at: lastResult?.at },
      pending: dirtySince !== undefined,
      beyla,
      rejected: (snapshot?.files ?? []).filter((f) => f.status !== 'valid').map((f) => ({ file: f.file, status: f.status, errors: f.errors })),
      warnings: (snapshot?.diagnostics ?? []).filter((d) => d.severity === 'warning'),
      health: health.status(),
      lastReconcile: lastResult ? { ok: lastResult.ok, message: lastResult.message, at: lastResult.at, result: lastResult.beyla.result } : undefined,
    };
  };

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
        status,
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
