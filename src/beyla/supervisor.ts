// BeylaSupervisor: the driver of the pure Beyla lifecycle (src/lifecycle): feeds it events, performs its effects, owns processes and timers.
import { EventEmitter } from 'node:events';
import type { BeylaSettings } from '../config/types.js';
import { initialState, step } from '../lifecycle/step.js';
import { resolveTiming, type SupervisorTiming } from '../lifecycle/timing.js';
import { activeOf } from '../lifecycle/transitions.js';
import type { ApplyResult, Effect, LifecycleEvent, LifecycleState, Plan, TimerName } from '../lifecycle/types.js';
import type { Logger } from '../log.js';
import { METRICS_PATH } from '../plan/render-beyla-config.js';
import type { DesiredState } from '../plan/types.js';
import type { OutputLimitCounters } from './beyla-instance.js';
import type { BeylaProcess } from './beyla-process.js';
import { createBeylaMetrics, createCoverageGauges, outputLimitCounters, type BeylaMetrics } from './create-beyla-metrics.js';
import { serviceCoverage, type ServiceCoverage } from './service-coverage.js';
import { SharedScrape, type FetchedScrape } from './shared-scrape.js';
import { fetchText } from './fetch-text.js';
import { describeStatus } from './describe-status.js';
import { planDesired } from './plan-desired.js';
import { probeLiveness } from './probe-liveness.js';
import { runCandidate, trackInstance } from './run-candidate.js';
import { runAdoption } from './run-adoption.js';
import { takeSurvivors } from './take-survivors.js';
import type { ApplyOutcome, BeylaSupervisorEvents, BeylaSupervisorOptions, HandoverProgress, PromotedExport, SupervisorStatus } from './supervisor-types.js';

export type * from './supervisor-types.js';
export { DEFAULT_TIMING } from '../lifecycle/timing.js';

interface Wanted {
  desired: DesiredState;
  settings: BeylaSettings;
}

/**
 * Owns every Beyla process the agent runs. `apply()` only records the newest desired state (a
 * one-slot mailbox: a newer request supersedes one not yet taken); every decision is `step()`'s.
 * Emits 'state' (SupervisorStatus) whenever the status changes.
 */
export class BeylaSupervisor extends EventEmitter<BeylaSupervisorEvents> {
  readonly runtimeDir: string;
  readonly log: Logger;
  readonly rootLog: Logger;
  readonly env: NodeJS.ProcessEnv;
  readonly excludePorts: number[];
  readonly timing: SupervisorTiming;
  readonly abort = new AbortController();
  /** Every instance not yet reaped, by generation. */
  readonly instances = new Map<number, BeylaProcess>();
  /** Readiness probes in flight, by generation. */
  readonly probes = new Map<number, AbortController>();
  /** Generations told to stop before their process existed. */
  readonly cancelled = new Set<number>();
  readonly handover = new Map<number, HandoverProgress>();
  readonly outputLimits: OutputLimitCounters;
  private readonly metrics: BeylaMetrics;
  private machine: LifecycleState;
  private chain: Promise<void>;
  private readonly timers = new Map<TimerName, NodeJS.Timeout>();
  private readonly requests = new Map<number, { resolve: (outcome: ApplyOutcome) => void; at: number }>();
  private requestSeq = 0;
  private desiredSeq = 0;
  private slot: (Wanted & { requests: number[] }) | null = null;
  private latest: Wanted | null = null;
  private readonly settings: BeylaSettings;
  private binary: string;
  private active: BeylaProcess | null = null;
  private stopProbing: (() => void) | null = null;
  private lastScrape: { generation: number; text: string } | null = null;
  private readonly sharedScrape: SharedScrape;
  private lastEmitted = '';
  private lastCoverage: ServiceCoverage[] = [];
  /** Bumped when the coverage changes: the state signature carries it instead of every service's entry. */
  private coverageVersion = 0;
  private lastCoverageText = '[]';
  private readonly stopped: Promise<void>;
  private readonly onPromote: BeylaSupervisorOptions['onPromote'];
  private readonly extraEnv: BeylaSupervisorOptions['instanceEnv'];
  private readonly onResync: BeylaSupervisorOptions['onResync'];
  private markStopped: () => void = () => undefined;

  constructor(opts: BeylaSupervisorOptions) {
    super();
    this.settings = opts.settings;
    this.binary = opts.settings.binary;
    this.runtimeDir = opts.runtimeDir;
    this.rootLog = opts.logger;
    this.log = opts.logger.child({ component: 'beyla-supervisor' });
    this.excludePorts = [...opts.excludePorts];
    this.env = opts.env ?? process.env;
    this.timing = resolveTiming(opts.timing);
    this.sharedScrape = new SharedScrape({ reuseMs: this.timing.scrapeReuseMs });
    this.metrics = createBeylaMetrics(opts.registry);
    this.outputLimits = outputLimitCounters(this.metrics);
    createCoverageGauges(opts.registry, () => this.coverage());
    this.metrics.up.set(0);
    this.metrics.generation.set(0);
    this.metrics.discoveryPortsCount.set(0);
    this.machine = initialState(this.timing, opts.settings.enabled);
    this.stopped = new Promise((resolveStopped) => { this.markStopped = resolveStopped; });
    if (opts.onState) this.on('state', opts.onState);
    this.onPromote = opts.onPromote;
    this.extraEnv = opts.instanceEnv;
    this.onResync = opts.onResync;
    this.chain = Promise.resolve();
    // Survivors of a killed agent first: they keep instrumenting until an instance of ours is ready (or are adopted).
    if (opts.settings.enabled) this.enqueue(() => takeSurvivors({ runtimeDir: this.runtimeDir, graceMs: opts.settings.shutdownTimeoutMs + this.timing.stopMarginMs, logger: this.log, signal: this.abort.signal, track: (i) => this.track(i) }));
  }

  /** Records the newest desired state; resolves with this request's outcome ('superseded' if replaced first). */
  apply(desired: DesiredState, settings?: BeylaSettings): Promise<ApplyOutcome> {
    if (this.abort.signal.aborted) return Promise.resolve(this.outcome('failed', 0, 'the Beyla supervisor is stopped'));
    const id = ++this.requestSeq;
    return new Promise((resolveOutcome) => {
      this.requests.set(id, { resolve: resolveOutcome, at: Date.now() });
      const chosen = settings ?? this.slot?.settings ?? this.latest?.settings ?? this.settings;
      if (this.slot) this.answer(this.slot.requests, 'superseded');
      this.slot = { desired, settings: chosen, requests: [id] };
      this.enqueue(async () => {
        const taken = this.slot;
        if (!taken) return null;
        this.slot = null;
        this.latest = { desired: taken.desired, settings: taken.settings };
        const plan = await this.plan(this.latest, ++this.desiredSeq);
        return { type: 'desired', at: Date.now(), requests: taken.requests, why: 'change', plan };
      });
    });
  }

  status(): SupervisorStatus {
    const status = describeStatus(this.machine, this.instances, this.binary);
    const candidate = status.instances.find((i) => i.role === 'candidate');
    const progress = candidate ? this.handover.get(candidate.generation) : undefined;
    const withCoverage = { ...status, services: this.lastCoverage.map((c) => ({ ...c, listeners: c.listeners.map((l) => ({ ...l, ports: [...l.ports] })) })) };
    return progress ? { ...withCoverage, handover: { ...progress, missing: [...progress.missing] } } : withCoverage;
  }

  reportHandover(progress: HandoverProgress): void {
    this.handover.set(progress.generation, progress);
    this.emitState();
  }

  /** Per configured service, the processes listening on its ports and those the active instance instruments. */
  async coverage(): Promise<ServiceCoverage[]> {
    const active = activeOf(this.machine);
    const desired = active?.target.desired ?? this.latest?.desired;
    const result = await serviceCoverage({
      selectors: desired?.selectors ?? [], services: desired?.services ?? [], instrumented: active ? this.instances.get(active.generation)?.instrumented ?? null : null,
      generation: active?.generation ?? 0, excludePorts: this.excludePorts, selfPid: process.pid,
    });
    const text = JSON.stringify(result);
    if (text !== this.lastCoverageText) {
      this.lastCoverageText = text;
      this.coverageVersion += 1;
    }
    this.lastCoverage = result;
    return result;
  }

  activeInstance(): BeylaProcess | null {
    return this.active;
  }

  /**
   * Text of the active instance's /metrics, or null when none is active. Reads only the instance
   * that is active when called; if that read fails it returns that same instance's last good
   * text (or null), so a caller never mixes two instances' series. Never throws.
   */
  async scrapeActive(signal?: AbortSignal): Promise<string | null> {
    return (await this.scrapeActiveTagged(signal))?.text ?? null;
  }

  /**
   * scrapeActive, with the generation whose text it is. Concurrent callers share one request to
   * the instance, and a text fetched less than `scrapeReuseMs` ago is served again (shared-scrape.ts).
   */
  async scrapeActiveTagged(signal?: AbortSignal): Promise<{ generation: number; text: string } | null> {
    const active = this.active;
    if (!active) return null;
    const shared = this.sharedScrape.get(active.generation, () => this.fetchActive(active));
    if (!signal) return shared;
    // An aborted caller stops waiting; the shared request goes on for the others.
    let onAbort = (): void => undefined;
    const aborted = new Promise<null>((resolveAborted) => { onAbort = () => resolveAborted(null); });
    signal.addEventListener('abort', onAbort, { once: true });
    return Promise.race([shared, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
  }

  private async fetchActive(active: BeylaProcess): Promise<FetchedScrape> {
    const generation = active.generation;
    try {
      const url = `http://127.0.0.1:${active.ports.metrics}${METRICS_PATH}`;
      const text = await fetchText(url, { timeoutMs: this.timing.scrapeTimeoutMs });
      if (this.lastScrape === null || this.lastScrape.generation <= generation) this.lastScrape = { generation, text };
      return { result: { generation, text }, fresh: true };
    } catch (error) {
      this.metrics.scrapeErrors.inc();
      this.log.debug({ err: error, generation }, 'scraping the active Beyla failed; serving its last good metrics');
      return { result: this.lastScrape?.generation === generation ? { ...this.lastScrape } : null, fresh: false };
    }
  }

  /** Stops every process it started (SIGTERM, SIGKILL after shutdown_timeout plus a margin); resolves when all are gone. */
  async stop(): Promise<void> {
    if (!this.abort.signal.aborted) {
      this.abort.abort();
      if (this.slot) this.answer(this.slot.requests, 'failed', 'the Beyla supervisor stopped');
      this.slot = null;
      this.enqueue(() => ({ type: 'stop', at: Date.now() }));
    }
    await this.stopped;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  /** Queues one event (or a function producing it): events reach step() one at a time, in order. */
  enqueue(make: () => LifecycleEvent | null | Promise<LifecycleEvent | null>): void {
    this.chain = this.chain.then(async () => {
      try {
        const event = await make();
        if (event) this.dispatch(event);
      } catch (error) {
        this.log.error({ err: error }, 'Beyla supervisor step failed');
      }
    });
  }

  private dispatch(event: LifecycleEvent): void {
    const { state, effects } = step(this.machine, event);
    this.machine = state;
    for (const effect of effects) {
      try {
        this.perform(effect);
      } catch (error) {
        this.log.error({ err: error, effect: effect.type }, 'a Beyla supervisor effect failed');
      }
    }
    const active = activeOf(state);
    this.metrics.up.set(active ? 1 : 0);
    if (active) {
      this.metrics.generation.set(active.generation);
      this.metrics.discoveryPortsCount.set(active.target.portsCount);
    } else if (['idle', 'disabled', 'stopping', 'stopped'].includes(state.phase.phase)) {
      this.metrics.generation.set(0);
      this.metrics.discoveryPortsCount.set(0);
    }
    this.emitState();
    if (state.phase.phase === 'stopped') this.markStopped();
  }

  private perform(effect: Effect): void {
    switch (effect.type) {
      case 'spawn': void runCandidate(this, effect); return;
      case 'adopt': void runAdoption(this, effect); return;
      case 'promote': {
        const instance = this.instances.get(effect.generation) ?? null;
        this.active = instance;
        this.stopProbing?.();
        this.stopProbing = instance ? this.watchLiveness(instance) : null;
        void this.coverage().catch((error: unknown) => this.log.debug({ err: error }, 'could not read service coverage'));
        return;
      }
      case 'deactivate':
        if (this.active?.generation !== effect.generation) return;
        this.stopProbing?.();
        this.stopProbing = null;
        this.active = null;
        this.lastScrape = null;
        this.sharedScrape.clear();
        return;
      case 'terminate':
      case 'kill': {
        this.probes.get(effect.generation)?.abort();
        const instance = this.instances.get(effect.generation);
        if (!instance) this.cancelled.add(effect.generation);
        else void (effect.type === 'kill' ? instance.kill() : instance.stop(effect.graceMs));
        return;
      }
      case 'arm': {
        clearTimeout(this.timers.get(effect.timer));
        const timer = effect.timer;
        this.timers.set(timer, setTimeout(() => {
          this.timers.delete(timer);
          this.enqueue(() => ({ type: 'timer', at: Date.now(), timer }));
        }, Math.max(0, effect.at - Date.now())));
        return;
      }
      case 'disarm':
        clearTimeout(this.timers.get(effect.timer));
        this.timers.delete(effect.timer);
        return;
      case 'resolve': this.answer(effect.requests, effect.result, effect.error, effect.spawnMs); return;
      case 'replan': {
        const latest = this.latest;
        if (!latest || this.abort.signal.aborted) return;
        this.enqueue(async () => ({ type: 'desired', at: Date.now(), requests: [], why: 'retry', plan: await this.plan(latest, this.desiredSeq) }));
        return;
      }
      case 'count-restart': this.metrics.restarts.inc({ reason: effect.reason }); return;
      case 'count-readiness-failure': this.metrics.readinessFailures.inc({ reason: effect.reason }); return;
      case 'count-own-fault': this.metrics.livenessOwnFaults.inc({ reason: effect.reason }); return;
      case 'resync': this.onResync?.(); return;
      case 'observe-handover': this.metrics.handoverSeconds.observe(effect.seconds); return;
      case 'observe-swap': this.metrics.swapSeconds.observe(effect.seconds); return;
      case 'log': this.log[effect.level](effect.fields, effect.msg); return;
    }
  }

  instanceEnv(generation: number): Record<string, string> {
    return this.extraEnv?.(generation) ?? {};
  }

  /** The promotion moment: the active instance and the ready candidate both run; onPromote scrapes both. */
  async beforeReady(candidate: BeylaProcess): Promise<void> {
    const old = this.active;
    if (!old?.running || !this.onPromote) return;
    const exportOf = (i: BeylaProcess): PromotedExport => ({ generation: i.generation, metricsUrl: `http://127.0.0.1:${i.ports.metrics}${METRICS_PATH}` });
    await this.onPromote(exportOf(old), exportOf(candidate)).catch((error: unknown) => this.log.warn({ err: error }, 'promotion hook failed'));
  }

  /** Follows an instance to its exit (config file and pid record removed), then reports it. */
  track(instance: BeylaProcess): void {
    this.instances.set(instance.generation, instance);
    trackInstance(this, instance, () => this.machine.retiring.find((r) => r.generation === instance.generation)?.hung ?? false).then((event) => {
      this.instances.delete(instance.generation);
      this.enqueue(() => event);
    }, (error: unknown) => this.log.error({ err: error }, 'following a Beyla instance failed'));
  }

  private watchLiveness(instance: BeylaProcess): () => void {
    const { generation } = instance;
    return probeLiveness({
      instance,
      intervalMs: this.timing.livenessIntervalMs,
      timeoutMs: this.timing.livenessTimeoutMs,
      onResult: (result) => {
        this.enqueue(() => ({ type: 'liveness', at: Date.now(), generation, ...result }));
        const active = activeOf(this.machine);
        return active?.generation === generation && active.hung === null;
      },
    });
  }

  private async plan(wanted: Wanted, seq: number): Promise<Plan> {
    const { plan, binary } = await planDesired({ ...wanted, seq, env: this.env, excludePorts: this.excludePorts });
    this.binary = binary;
    return plan;
  }

  private answer(ids: number[], result: ApplyResult, error?: string, spawnMs?: number): void {
    for (const id of ids) {
      const request = this.requests.get(id);
      if (!request) continue;
      this.requests.delete(id);
      request.resolve(this.outcome(result, result === 'superseded' ? 0 : request.at, error, spawnMs));
    }
  }

  private outcome(result: ApplyResult, since: number, error?: string, spawnMs?: number): ApplyOutcome {
    const active = activeOf(this.machine);
    return {
      result,
      generation: active?.generation ?? 0,
      portsString: active?.target.portsString ?? '',
      ...(error === undefined ? {} : { error }),
      durationMs: since === 0 ? 0 : Date.now() - since,
      ...(spawnMs === undefined ? {} : { spawnMs }),
    };
  }

  /**
   * Emits the status when it changed. Runs after every event (a liveness probe every few seconds),
   * so the signature is built from the machine's own status and a coverage version, not from every
   * service's coverage: with 20,000 services that copy and its JSON were most of the idle agent's work.
   */
  private emitState(): void {
    const { instances, ...rest } = describeStatus(this.machine, this.instances, this.binary);
    const candidate = instances.find((i) => i.role === 'candidate');
    const progress = candidate ? this.handover.get(candidate.generation) : undefined;
    const signature = JSON.stringify({
      ...rest, coverage: this.coverageVersion, handover: progress ? [progress.instrumented, progress.expected] : null, instances: instances.map((i) => [i.generation, i.role]),
    });
    if (signature === this.lastEmitted) return;
    this.lastEmitted = signature;
    this.emit('state', this.status());
  }
}
