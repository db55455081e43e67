// BeylaSupervisor: one run loop that converges Beyla to the newest desired state with make-before-break swaps.
import { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import { CoralError } from '../errors.js';
import type { BeylaSettings } from '../config/types.js';
import type { Logger } from '../log.js';
import { renderBeylaConfig, HEALTH_PATH, METRICS_PATH, type InstancePorts } from '../plan/render-beyla-config.js';
import type { DesiredState } from '../plan/types.js';
import { BeylaInstance, type BeylaExit } from './beyla-instance.js';
import { createBeylaMetrics, type BeylaMetrics, type RestartReason } from './create-beyla-metrics.js';
import { backoffMs, CrashPolicy, type CrashPolicyOptions } from './crash-policy.js';
import { fetchText } from './fetch-text.js';
import { findBeylaBinary, INSTALL_HINT } from './find-beyla-binary.js';
import { instanceRecord, removeInstanceRecord } from './instance-record.js';
import { pickFreePorts } from './pick-free-ports.js';
import { probeReadiness } from './probe-readiness.js';
import { scrubEnv } from './scrub-env.js';
import { stopOrphans } from './stop-orphans.js';
import { removeConfigFile, writeConfigFile } from './write-config-file.js';

export type SupervisorState = 'idle' | 'starting' | 'swapping' | 'ready' | 'degraded' | 'unavailable' | 'stopped' | 'disabled';

export type ApplyResult = 'unchanged' | 'swapped' | 'started' | 'stopped' | 'failed' | 'unavailable' | 'superseded' | 'disabled';

export interface ApplyOutcome {
  result: ApplyResult;
  /** Generation of the active instance after this request (0: none yet). */
  generation: number;
  /** Ports the active instance instruments after this request ("" when none). */
  portsString: string;
  error?: string;
  /** From the run loop taking the request to its outcome. */
  durationMs: number;
  /** From the decision to swap to the candidate process spawned (the agent's own overhead), when one was spawned. */
  spawnMs?: number;
}

export interface InstanceStatus {
  generation: number;
  pid: number | null;
  role: 'active' | 'candidate' | 'stopping';
  ports: InstancePorts;
  startedAt: string;
  configFile: string;
}

export interface SwapRecord {
  generation: number;
  result: 'started' | 'swapped' | 'failed';
  error?: string;
  at: string;
  durationMs: number;
}

export interface SupervisorStatus {
  state: SupervisorState;
  /** Generation of the active instance (0: none). */
  generation: number;
  /** Resolved binary path, or the configured name while it is not found. */
  binary: string;
  reason?: string;
  instances: InstanceStatus[];
  lastSwap?: SwapRecord;
  consecutiveCrashes: number;
  circuitOpen: boolean;
  portsString: string;
}

/** Timings with production defaults; tests shrink them. */
export interface SupervisorTiming extends CrashPolicyOptions {
  /** How often a missing binary is looked for again. Default 30 s. */
  binaryRecheckMs: number;
  /** Added to shutdown_timeout before SIGKILL. Default 2 s. */
  stopMarginMs: number;
  /** First retry of a failed swap; doubles up to swapRetryMaxMs. Defaults 1 s and 30 s. */
  swapRetryInitialMs: number;
  swapRetryMaxMs: number;
  /** Deadline of one scrape of the active instance. Default 2 s. */
  scrapeTimeoutMs: number;
  /** Pause between two liveness probes of the active instance's /healthz. Default 5 s. */
  livenessIntervalMs: number;
  /** Consecutive failed liveness probes that mean the active instance is hung. Default 3. */
  livenessFailures: number;
  /** Deadline of one liveness probe. Default 1 s. */
  livenessTimeoutMs: number;
}

export const DEFAULT_TIMING: Omit<SupervisorTiming, keyof CrashPolicyOptions> = {
  binaryRecheckMs: 30_000,
  stopMarginMs: 2000,
  swapRetryInitialMs: 1000,
  swapRetryMaxMs: 30_000,
  scrapeTimeoutMs: 2000,
  livenessIntervalMs: 5000,
  livenessFailures: 3,
  livenessTimeoutMs: 1000,
};

export interface BeylaSupervisorOptions {
  settings: BeylaSettings;
  /** Where each generation's beyla-<N>.yaml is written (mode 0600). */
  runtimeDir: string;
  logger: Logger;
  registry: Registry;
  /** The agent's own ports (metrics listen...): never instrumented. */
  excludePorts: number[];
  /** Inherited environment for Beyla before scrubbing; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Called with the new status on every state change (also emitted as 'state'). */
  onState?: (status: SupervisorStatus) => void;
  timing?: Partial<SupervisorTiming>;
}

export interface BeylaSupervisorEvents {
  state: [status: SupervisorStatus];
}

interface Target {
  desired: DesiredState;
  settings: BeylaSettings;
}

interface Request extends Target {
  waiters: Array<(outcome: ApplyOutcome) => void>;
}

interface Active extends Target {
  instance: BeylaInstance;
  /** Rendered YAML with placeholder instance ports, plus binary and env: equal key, no restart. */
  key: string;
  portsString: string;
  portsCount: number;
}

interface LivenessWatch {
  instance: BeylaInstance;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  abort: AbortController;
}

interface Cached {
  generation: number;
  text: string;
}

const PLACEHOLDER_PORTS: InstancePorts = { metrics: 1, health: 2, internal: 3 };

/**
 * Owns every Beyla process the agent runs. `apply()` only records the newest desired state; the
 * run loop does all the work, one step at a time, so there is never more than one candidate.
 * Emits 'state' (SupervisorStatus) whenever the status changes.
 */
export class BeylaSupervisor extends EventEmitter<BeylaSupervisorEvents> {
  private settings: BeylaSettings;
  private readonly runtimeDir: string;
  private readonly log: Logger;
  private readonly rootLog: Logger;
  private readonly excludePorts: number[];
  private readonly env: NodeJS.ProcessEnv;
  private readonly timing: SupervisorTiming;
  private readonly metrics: BeylaMetrics;
  private readonly crashes: CrashPolicy;
  private readonly abort = new AbortController();
  private readonly loop: Promise<void>;

  private pending: Request | null = null;
  private target: Target | null = null;
  private active: Active | null = null;
  private candidate: BeylaInstance | null = null;
  /** Every instance not yet exited. */
  private readonly live = new Set<BeylaInstance>();
  private readonly stopping = new Set<BeylaInstance>();
  /** Per live instance: resolves once it has exited and its config file is gone. */
  private readonly reaped = new Map<BeylaInstance, Promise<void>>();
  private generation = 0;
  private binary: string;
  private binaryMissing = false;
  private state: SupervisorState = 'idle';
  private reason: string | undefined;
  private lastSwap: SwapRecord | undefined;
  private lastScrape: Cached | null = null;
  /** Config of a crashed active instance, waiting for `restartAt`. */
  private crashed: Active | null = null;
  private restartAt: number | null = null;
  private retryAt: number | null = null;
  private retryAttempt = 0;
  private recheckAt: number | null = null;
  private woken = false;
  private wakeUp: (() => void) | null = null;
  private lastEmitted = '';
  private liveness: LivenessWatch | null = null;
  /** An active instance the liveness check gave up on, waiting for the run loop to replace it. */
  private unresponsive: { instance: BeylaInstance; reason: string } | null = null;
  /** Instances known to be hung: stopped with SIGKILL, not SIGTERM and a grace. */
  private readonly hung = new WeakSet<BeylaInstance>();

  constructor(opts: BeylaSupervisorOptions) {
    super();
    this.settings = opts.settings;
    this.runtimeDir = opts.runtimeDir;
    this.rootLog = opts.logger;
    this.log = opts.logger.child({ component: 'beyla-supervisor' });
    this.excludePorts = [...opts.excludePorts];
    this.env = opts.env ?? process.env;
    this.binary = opts.settings.binary;
    const { binaryRecheckMs, stopMarginMs, swapRetryInitialMs, swapRetryMaxMs, scrapeTimeoutMs, livenessIntervalMs, livenessFailures, livenessTimeoutMs, ...crash } = opts.timing ?? {};
    this.crashes = new CrashPolicy(crash);
    this.timing = {
      ...this.crashes.options,
      ...DEFAULT_TIMING,
      ...dropUndefined({ binaryRecheckMs, stopMarginMs, swapRetryInitialMs, swapRetryMaxMs, scrapeTimeoutMs, livenessIntervalMs, livenessFailures, livenessTimeoutMs }),
    };
    this.metrics = createBeylaMetrics(opts.registry);
    this.metrics.up.set(0);
    this.metrics.generation.set(0);
    this.metrics.discoveryPortsCount.set(0);
    if (opts.onState) this.on('state', opts.onState);
    if (!opts.settings.enabled) this.state = 'disabled';
    this.loop = this.run();
  }

  /** Records the newest desired state; resolves with this request's outcome ('superseded' if replaced first). */
  apply(desired: DesiredState, settings?: BeylaSettings): Promise<ApplyOutcome> {
    if (this.abort.signal.aborted) return Promise.resolve(this.outcome('failed', 0, 'the Beyla supervisor is stopped'));
    return new Promise((resolveOutcome) => {
      const previous = this.pending;
      if (previous) {
        for (const waiter of previous.waiters) waiter(this.outcome('superseded', 0));
      }
      this.pending = { desired, settings: settings ?? this.pending?.settings ?? this.target?.settings ?? this.settings, waiters: [resolveOutcome] };
      this.wake();
    });
  }

  status(): SupervisorStatus {
    const instances: InstanceStatus[] = [];
    const describe = (instance: BeylaInstance, role: InstanceStatus['role']): InstanceStatus => ({
      generation: instance.generation,
      pid: instance.pid ?? null,
      role,
      ports: { ...instance.ports },
      startedAt: new Date(instance.startedAt).toISOString(),
      configFile: instance.configFile,
    });
    if (this.active) instances.push(describe(this.active.instance, 'active'));
    if (this.candidate) instances.push(describe(this.candidate, 'candidate'));
    for (const instance of this.stopping) if (instance.running) instances.push(describe(instance, 'stopping'));
    return {
      state: this.state,
      generation: this.active?.instance.generation ?? 0,
      binary: this.binary,
      ...(this.reason === undefined ? {} : { reason: this.reason }),
      instances,
      ...(this.lastSwap ? { lastSwap: { ...this.lastSwap } } : {}),
      consecutiveCrashes: this.crashes.consecutive,
      circuitOpen: this.crashes.circuitOpen,
      portsString: this.active?.portsString ?? '',
    };
  }

  /**
   * Text of the active instance's /metrics, or null when none is active. Reads only the instance
   * that is active when called; if that read fails it returns that same instance's last good
   * text (or null), so a caller never mixes two instances' series. Never throws.
   */
  async scrapeActive(signal?: AbortSignal): Promise<string | null> {
    const active = this.active;
    if (!active) return null;
    const generation = active.instance.generation;
    try {
      const url = `http://127.0.0.1:${active.instance.ports.metrics}${METRICS_PATH}`;
      const text = await fetchText(url, { timeoutMs: this.timing.scrapeTimeoutMs, ...(signal ? { signal } : {}) });
      if (this.lastScrape === null || this.lastScrape.generation <= generation) this.lastScrape = { generation, text };
      return text;
    } catch (error) {
      this.metrics.scrapeErrors.inc();
      this.log.debug({ err: error, generation }, 'scraping the active Beyla failed; serving its last good metrics');
      return this.lastScrape?.generation === generation ? this.lastScrape.text : null;
    }
  }

  /** Stops the loop, then every process it started: SIGTERM, SIGKILL after shutdown_timeout plus a margin. */
  async stop(): Promise<void> {
    if (!this.abort.signal.aborted) {
      this.abort.abort();
      this.wake();
    }
    await this.loop;
    const pending = this.pending;
    this.pending = null;
    for (const waiter of pending?.waiters ?? []) waiter(this.outcome('failed', 0, 'the Beyla supervisor stopped'));
    await this.stopAll();
    this.setState('stopped', undefined);
  }

  // ---- run loop ----

  private wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return;
    }
    await new Promise<void>((resolveSleep) => {
      const timer = Number.isFinite(ms) ? setTimeout(resolveSleep, Math.max(0, ms)) : undefined;
      this.wakeUp = () => {
        clearTimeout(timer);
        resolveSleep();
      };
    });
    this.wakeUp = null;
    this.woken = false;
  }

  private nextTimerMs(now: number): number {
    const times = [this.restartAt, this.retryAt, this.recheckAt];
    if (this.active && this.crashes.consecutive > 0) times.push(this.active.instance.startedAt + this.timing.stableResetMs);
    const due = times.filter((t): t is number => t !== null);
    return due.length === 0 ? Infinity : Math.min(...due) - now;
  }

  private async run(): Promise<void> {
    await this.sweepOrphans();
    while (!this.abort.signal.aborted) {
      const now = Date.now();
      try {
        if (this.unresponsive) {
          const hung = this.unresponsive;
          this.unresponsive = null;
          await this.replaceUnresponsive(hung);
        } else if (this.pending) {
          const request = this.pending;
          this.pending = null;
          this.target = { desired: request.desired, settings: request.settings };
          this.retryAttempt = 0;
          this.retryAt = null;
          const decidedAt = Date.now();
          const outcome = await this.converge(this.target, 'change').catch((error: unknown) => {
            return this.outcome('failed', decidedAt, this.onStepError(error));
          });
          for (const waiter of request.waiters) waiter(outcome);
        } else if (this.restartAt !== null && now >= this.restartAt) {
          this.restartAt = null;
          await this.restartCrashed();
        } else if ((this.retryAt !== null && now >= this.retryAt) || (this.recheckAt !== null && now >= this.recheckAt)) {
          this.retryAt = null;
          this.recheckAt = null;
          if (this.target) await this.converge(this.target, 'retry');
        } else {
          this.checkStable(now);
          await this.sleep(this.nextTimerMs(now));
        }
      } catch (error) {
        this.onStepError(error);
      }
    }
  }

  /** Before the first start: stop any Beyla a killed predecessor left running on this runtime dir. */
  private async sweepOrphans(): Promise<void> {
    if (!this.settings.enabled) return;
    try {
      const found = await stopOrphans({
        runtimeDir: this.runtimeDir,
        graceMs: this.settings.shutdownTimeoutMs + this.timing.stopMarginMs,
        logger: this.log,
        signal: this.abort.signal,
      });
      const stopped = found.filter((r) => r.action === 'stopped' || r.action === 'killed');
      if (found.length > 0) {
        this.log.info({ records: found.length, stopped: stopped.map((r) => r.pid), reports: found }, `orphan sweep: ${stopped.length} Beyla left by a previous agent stopped`);
      }
    } catch (error) {
      this.log.error({ err: error, runtime_dir: this.runtimeDir }, 'could not look for orphaned Beyla processes');
    }
  }

  /** A bug or an I/O failure in one step must not end the loop: log it, retry with backoff, go on. */
  private onStepError(error: unknown): string {
    const message = error instanceof CoralError ? error.format() : String(error);
    this.log.error({ err: error }, 'Beyla supervisor step failed');
    this.candidate = null;
    this.retryAt = Date.now() + backoffMs(++this.retryAttempt, this.timing.swapRetryInitialMs, this.timing.swapRetryMaxMs);
    this.setState(this.active ? 'ready' : 'degraded', message);
    return message;
  }

  private checkStable(now: number): void {
    if (!this.active || this.crashes.consecutive === 0) return;
    if (!this.crashes.isStable(this.active.instance.startedAt, now)) return;
    const wasOpen = this.crashes.circuitOpen;
    this.crashes.reset();
    this.log.info({ generation: this.active.instance.generation, circuit_was_open: wasOpen }, 'Beyla has run stably: crash count reset');
    this.setState('ready', undefined);
  }

  private outcome(result: ApplyResult, startedAt: number, error?: string, spawnMs?: number): ApplyOutcome {
    return {
      result,
      generation: this.active?.instance.generation ?? 0,
      portsString: this.active?.portsString ?? '',
      ...(error === undefined ? {} : { error }),
      durationMs: startedAt === 0 ? 0 : Date.now() - startedAt,
      ...(spawnMs === undefined ? {} : { spawnMs }),
    };
  }

  private setState(state: SupervisorState, reason: string | undefined): void {
    this.state = state;
    this.reason = reason;
    this.emitState();
  }

  private emitState(): void {
    const status = this.status();
    const { instances, ...rest } = status;
    const signature = JSON.stringify({ ...rest, instances: instances.map((i) => [i.generation, i.role]) });
    if (signature === this.lastEmitted) return;
    this.lastEmitted = signature;
    this.emit('state', status);
  }

  /** The comparison key of a target: its YAML with placeholder instance ports, the binary and the explicit env. */
  private keyOf(target: Target, binary: string): { key: string; portsString: string; portsCount: number } | null {
    const rendered = renderBeylaConfig({
      desired: target.desired,
      settings: target.settings,
      instancePorts: PLACEHOLDER_PORTS,
      excludePorts: this.excludePorts,
    });
    if (!rendered) return null;
    const env = Object.entries(target.settings.env).sort(([a], [b]) => a.localeCompare(b));
    return { key: `${rendered.yaml}\n# binary=${binary}\n# env=${JSON.stringify(env)}\n`, portsString: rendered.portsString, portsCount: rendered.portsCount };
  }

  /** One step towards `target`. */
  private async converge(target: Target, why: 'change' | 'retry'): Promise<ApplyOutcome> {
    const decidedAt = Date.now();
    this.settings = target.settings;
    if (!target.settings.enabled) {
      await this.stopAll();
      this.setState('disabled', 'agent.beyla.enabled is false');
      return this.outcome('disabled', decidedAt);
    }
    let binary: string;
    try {
      binary = await findBeylaBinary(target.settings.binary, this.env);
    } catch (error) {
      if (!(error instanceof CoralError) || error.code !== 'BEYLA_UNAVAILABLE') throw error;
      this.binary = target.settings.binary;
      this.recheckAt = Date.now() + this.timing.binaryRecheckMs;
      if (!this.binaryMissing) this.log.error({ binary: target.settings.binary, hint: error.hint }, error.message);
      this.binaryMissing = true;
      this.setState('unavailable', error.format());
      return this.outcome('unavailable', decidedAt, error.format());
    }
    if (this.binaryMissing) this.log.info({ binary }, 'Beyla binary found');
    this.binaryMissing = false;
    this.binary = binary;

    let keyed;
    try {
      keyed = this.keyOf(target, binary);
    } catch (error) {
      const message = error instanceof CoralError ? error.format() : String(error);
      this.log.error({ err: error }, 'cannot render the Beyla config');
      this.setState(this.active ? 'ready' : 'degraded', message);
      return this.outcome('failed', decidedAt, message);
    }
    if (!keyed) {
      const wasRunning = this.active !== null || this.crashed !== null;
      await this.stopAll();
      this.setState('idle', 'no services to instrument (agent.beyla.when_empty: stop)');
      return this.outcome(wasRunning ? 'stopped' : 'unchanged', decidedAt);
    }
    if (this.active && this.active.key === keyed.key) {
      this.active = { ...this.active, desired: target.desired, settings: target.settings };
      this.setState(this.crashes.circuitOpen ? 'degraded' : 'ready', undefined);
      return this.outcome('unchanged', decidedAt);
    }
    if (!this.active && this.crashed?.key === keyed.key && this.restartAt !== null) {
      const message = `Beyla crashed; restart of the same config scheduled in ${Math.max(0, this.restartAt - Date.now())} ms`;
      return this.outcome('failed', decidedAt, message);
    }
    const result = await this.startCandidate({ target, binary, keyed, decidedAt, reason: 'config_change' });
    if (result.ok) {
      return this.outcome(result.replaced ? 'swapped' : 'started', decidedAt, undefined, result.spawnMs);
    }
    this.retryAt = Date.now() + backoffMs(++this.retryAttempt, this.timing.swapRetryInitialMs, this.timing.swapRetryMaxMs);
    this.log.warn({ retry_in_ms: this.retryAt - Date.now(), why }, 'will retry the Beyla swap');
    return this.outcome('failed', decidedAt, result.error, result.spawnMs);
  }

  private async restartCrashed(): Promise<void> {
    const crashed = this.crashed;
    if (!crashed || this.active) return;
    let binary: string;
    try {
      binary = await findBeylaBinary(crashed.settings.binary, this.env);
    } catch (error) {
      if (!(error instanceof CoralError)) throw error;
      this.restartAt = Date.now() + this.timing.binaryRecheckMs;
      this.binaryMissing = true;
      this.setState('unavailable', error.format());
      return;
    }
    const keyed = { key: crashed.key, portsString: crashed.portsString, portsCount: crashed.portsCount };
    const result = await this.startCandidate({ target: crashed, binary, keyed, decidedAt: Date.now(), reason: 'crash' });
    if (!result.ok && !this.active) this.recordCrash(crashed, result.error);
  }

  private async startCandidate(opts: {
    target: Target;
    binary: string;
    keyed: { key: string; portsString: string; portsCount: number };
    decidedAt: number;
    reason: RestartReason;
  }): Promise<{ ok: true; replaced: boolean; spawnMs: number } | { ok: false; error: string; spawnMs?: number }> {
    const { target, binary, keyed, decidedAt } = opts;
    const generation = ++this.generation;
    const log = this.log.child({ generation });
    this.setState(this.active ? 'swapping' : 'starting', `starting generation ${generation}`);
    const taken = [...this.live].flatMap((i) => [i.ports.metrics, i.ports.health, i.ports.internal]);
    const [metrics = 0, health = 0, internal = 0] = await pickFreePorts(3, [...this.excludePorts, ...taken]);
    const ports: InstancePorts = { metrics, health, internal };
    const excludePorts = [...this.excludePorts, ...taken];
    const rendered = renderBeylaConfig({ desired: target.desired, settings: target.settings, instancePorts: ports, excludePorts });
    if (!rendered) throw new CoralError('INTERNAL', 'rendered Beyla config vanished between key and file');
    const configFile = await writeConfigFile({ runtimeDir: this.runtimeDir, generation, yaml: rendered.yaml });
    const instance = new BeylaInstance({
      binary,
      configFile,
      generation,
      ports,
      env: scrubEnv(this.env, target.settings.env),
      shutdownTimeoutMs: target.settings.shutdownTimeoutMs,
      logger: this.rootLog,
    });
    const spawnMs = Date.now() - decidedAt;
    this.track(instance, generation);
    this.candidate = instance;
    log.info({ pid: instance.pid, config_file: configFile, ports, open_ports: rendered.portsString, reason: opts.reason }, 'Beyla candidate spawned');
    this.emitState();
    try {
      await probeReadiness({
        instance,
        readiness: target.settings.readiness,
        selectors: target.desired.selectors,
        excludePorts,
        signal: this.abort.signal,
      });
    } catch (error) {
      this.candidate = null;
      const reaped = this.reaped.get(instance);
      await instance.kill();
      await reaped;
      const cannotRun = instance.exit?.spawnError !== undefined;
      const message = cannotRun
        ? `Beyla binary ${binary} cannot run: ${instance.exit?.spawnError}; ${INSTALL_HINT}`
        : error instanceof Error ? error.message : String(error);
      this.metrics.readinessFailures.inc();
      this.lastSwap = { generation, result: 'failed', error: message, at: new Date().toISOString(), durationMs: Date.now() - decidedAt };
      log.error({ err: error, beyla_error: instance.beylaError(), exit: instance.describeExit(), recent_errors: instance.recentErrors() }, 'Beyla candidate failed; the previous instance keeps serving');
      if (cannotRun) this.recheckAt = Date.now() + this.timing.binaryRecheckMs;
      this.setState(cannotRun ? 'unavailable' : this.active ? (this.crashes.circuitOpen ? 'degraded' : 'ready') : 'degraded', message);
      return { ok: false, error: message, spawnMs };
    }
    // Promote: from here the stable address reads the new instance, and only it.
    const old = this.active;
    this.candidate = null;
    this.active = { ...target, instance, key: keyed.key, portsString: rendered.portsString, portsCount: rendered.portsCount };
    this.crashed = null;
    this.restartAt = null;
    this.retryAttempt = 0;
    this.retryAt = null;
    const durationMs = Date.now() - decidedAt;
    this.metrics.swapSeconds.observe(durationMs / 1000);
    this.metrics.up.set(1);
    this.metrics.generation.set(generation);
    this.metrics.discoveryPortsCount.set(rendered.portsCount);
    if (old || opts.reason === 'crash') this.metrics.restarts.inc({ reason: opts.reason });
    this.lastSwap = { generation, result: old ? 'swapped' : 'started', at: new Date().toISOString(), durationMs };
    log.info({ pid: instance.pid, duration_ms: durationMs, replaced_generation: old?.instance.generation, open_ports: rendered.portsString }, 'Beyla generation promoted');
    this.watchActive(instance);
    this.watchLiveness(instance);
    this.setState(this.crashes.circuitOpen ? 'degraded' : 'ready', undefined);
    if (old) await this.stopInstance(old.instance);
    return { ok: true, replaced: old !== null, spawnMs };
  }

  /** Follows an instance to its exit: then its config file is removed and a crash is handled. */
  private track(instance: BeylaInstance, generation: number): void {
    this.live.add(instance);
    const record = instance.pid === undefined
      ? Promise.resolve(null)
      : instanceRecord({ runtimeDir: this.runtimeDir, generation, pid: instance.pid }).catch((error: unknown) => {
        this.log.warn({ err: error, generation, pid: instance.pid }, 'could not write the Beyla pid record (an orphan of this instance would not be found after an agent crash)');
        return null;
      });
    this.reaped.set(instance, instance.exited.then(async (exit) => {
      await removeConfigFile(instance.configFile).catch((error: unknown) => {
        this.log.warn({ err: error, config_file: instance.configFile }, 'could not remove an old Beyla config');
      });
      const recordPath = await record;
      if (recordPath) {
        await removeInstanceRecord(recordPath).catch((error: unknown) => {
          this.log.warn({ err: error, record: recordPath }, 'could not remove an old Beyla pid record');
        });
      }
      this.live.delete(instance);
      this.stopping.delete(instance);
      this.reaped.delete(instance);
      this.onExit(instance, exit);
    }));
  }

  private watchActive(instance: BeylaInstance): void {
    instance.on('fatal', (line) => {
      if (this.active?.instance !== instance) return;
      this.log.error({ generation: instance.generation, beyla_error: line }, 'active Beyla logged a fatal line: replacing it');
      const active = this.active;
      this.deactivate();
      void this.stopInstance(instance);
      this.recordCrash(active, line);
    });
  }

  private onExit(instance: BeylaInstance, exit: BeylaExit): void {
    if (this.active?.instance !== instance || exit.requested) {
      this.emitState();
      return;
    }
    const active = this.active;
    this.deactivate();
    const beylaError = instance.beylaError() ?? instance.lastLine();
    const what = `${instance.describeExit()}${beylaError ? `: ${beylaError}` : ''}`;
    this.log.error({ generation: instance.generation, pid: instance.pid, exit_code: exit.code, signal: exit.signal, beyla_error: beylaError }, `active Beyla ${what}`);
    this.recordCrash(active, what);
  }

  /**
   * Probes the active instance's /healthz every livenessIntervalMs (each probe with its own short
   * deadline). After livenessFailures failures in a row the instance is hung (e.g. SIGSTOPped or
   * wedged): the run loop replaces it make-before-break and SIGKILLs it.
   */
  private watchLiveness(instance: BeylaInstance): void {
    this.stopLiveness();
    const watch: LivenessWatch = { instance, failures: 0, timer: undefined, abort: new AbortController() };
    this.liveness = watch;
    const { livenessIntervalMs, livenessFailures, livenessTimeoutMs } = this.timing;
    const url = `http://127.0.0.1:${instance.ports.health}${HEALTH_PATH}`;
    const current = (): boolean => this.liveness === watch && this.active?.instance === instance && instance.running;
    const probe = async (): Promise<void> => {
      if (!current()) return;
      try {
        await fetchText(url, { timeoutMs: livenessTimeoutMs, signal: watch.abort.signal });
        if (watch.failures > 0) this.log.info({ generation: instance.generation, failures: watch.failures }, 'active Beyla answers /healthz again');
        watch.failures = 0;
      } catch (error) {
        if (!current()) return;
        watch.failures += 1;
        const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
        this.log.warn({ generation: instance.generation, pid: instance.pid, failures: watch.failures, of: livenessFailures, error: cause }, 'active Beyla did not answer its liveness probe');
        if (watch.failures >= livenessFailures) {
          this.stopLiveness();
          this.unresponsive = {
            instance,
            reason: `${HEALTH_PATH} on 127.0.0.1:${instance.ports.health} did not answer ${watch.failures} probes in a row (${livenessTimeoutMs} ms each, ${livenessIntervalMs} ms apart; last: ${cause})`,
          };
          this.wake();
          return;
        }
      }
      schedule();
    };
    const schedule = (): void => {
      if (this.liveness === watch) watch.timer = setTimeout(() => void probe(), livenessIntervalMs);
    };
    schedule();
  }

  private stopLiveness(): void {
    if (!this.liveness) return;
    clearTimeout(this.liveness.timer);
    this.liveness.abort.abort();
    this.liveness = null;
  }

  /** Start a new instance on the hung one's config; once it is ready, SIGKILL the hung one. */
  private async replaceUnresponsive(hung: { instance: BeylaInstance; reason: string }): Promise<void> {
    const active = this.active;
    const { instance } = hung;
    if (!active || active.instance !== instance || !instance.running) return;
    this.hung.add(instance);
    this.log.error({ generation: instance.generation, pid: instance.pid, reason: hung.reason }, `active Beyla is unresponsive: ${hung.reason}; replacing it (make-before-break), then SIGKILL`);
    let failure: string;
    try {
      const binary = await findBeylaBinary(active.settings.binary, this.env);
      const keyed = { key: active.key, portsString: active.portsString, portsCount: active.portsCount };
      const result = await this.startCandidate({ target: active, binary, keyed, decidedAt: Date.now(), reason: 'unresponsive' });
      if (result.ok) return;
      failure = result.error;
    } catch (error) {
      failure = error instanceof CoralError ? error.format() : String(error);
    }
    // No replacement: a hung Beyla is no better than none. Kill it and go the crash way (backoff).
    if (this.active?.instance !== instance) return;
    this.deactivate();
    void this.stopInstance(instance);
    this.recordCrash(active, `unresponsive (${hung.reason}); its replacement failed: ${failure}`);
  }

  private deactivate(): void {
    this.stopLiveness();
    this.active = null;
    this.lastScrape = null;
    this.metrics.up.set(0);
  }

  private recordCrash(config: Active, what: string): void {
    this.crashed = config;
    const decision = this.crashes.recordCrash(Date.now());
    this.restartAt = Date.now() + decision.delayMs;
    this.log.warn({ generation: config.instance.generation, consecutive_crashes: this.crashes.consecutive, restart_in_ms: decision.delayMs, circuit_open: this.crashes.circuitOpen }, 'Beyla restart scheduled');
    if (decision.opened) {
      this.log.error({ crashes: this.crashes.consecutive, retry_in_ms: decision.delayMs }, 'Beyla keeps crashing: circuit open, retrying slowly');
    }
    const reason = this.crashes.circuitOpen
      ? `circuit open after ${this.crashes.consecutive} crashes; next try in ${decision.delayMs} ms; last: ${what}`
      : `crashed (${what}); restarting in ${decision.delayMs} ms`;
    this.setState(this.crashes.circuitOpen ? 'degraded' : 'starting', reason);
    this.wake();
  }

  private async stopInstance(instance: BeylaInstance): Promise<void> {
    this.stopping.add(instance);
    this.emitState();
    const reaped = this.reaped.get(instance);
    // A hung (e.g. SIGSTOPped) process would not act on SIGTERM until continued: SIGKILL at once.
    const exit = this.hung.has(instance) ? await instance.kill() : await instance.stop(instance.shutdownTimeoutMs + this.timing.stopMarginMs);
    await reaped;
    this.log.info({ generation: instance.generation, pid: instance.pid, exit_code: exit.code, signal: exit.signal, hung: this.hung.has(instance) }, 'Beyla instance stopped');
  }

  /** Stops every process; used for disable, nothing-to-run and stop(). */
  private async stopAll(): Promise<void> {
    this.deactivate();
    this.crashed = null;
    this.restartAt = null;
    this.retryAt = null;
    this.metrics.generation.set(0);
    this.metrics.discoveryPortsCount.set(0);
    await Promise.all([...this.live].map((instance) => this.stopInstance(instance)));
  }
}

function dropUndefined<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}
