// BeylaSupervisor: the driver of the pure Beyla lifecycle (src/lifecycle): feeds it events, performs its effects, owns processes and timers.
import { EventEmitter } from 'node:events';
import type { BeylaSettings } from '../config/types.js';
import { initialState, step } from '../lifecycle/step.js';
import { resolveTiming, type SupervisorTiming } from '../lifecycle/timing.js';
import { activeOf } from '../lifecycle/transitions.js';
import type { LifecycleEvent, LifecycleState, TimerName } from '../lifecycle/types.js';
import type { Logger } from '../log.js';
import { METRICS_PATH } from '../plan/render-beyla-config.js';
import type { DesiredState } from '../plan/types.js';
import { ActiveScrape } from './active-scrape.js';
import { ActiveSlot } from './active-slot.js';
import { ApplyRequests } from './apply-requests.js';
import type { OutputLimitCounters } from './beyla-instance.js';
import type { BeylaProcess } from './beyla-process.js';
import { CoverageTracker } from './coverage-tracker.js';
import { createBeylaMetrics, createCoverageGauges, outputLimitCounters, type BeylaMetrics } from './create-beyla-metrics.js';
import { DesiredMailbox } from './desired-mailbox.js';
import { performEffect, type EffectHost } from './perform-effect.js';
import { trackInstance } from './run-candidate.js';
import type { ServiceCoverage } from './service-coverage.js';
import { statusSignature, supervisorStatus, type StatusSources } from './supervisor-status.js';
import { takeSurvivors } from './take-survivors.js';
import { untilAborted } from './until-aborted.js';
import type { ApplyOutcome, BeylaSupervisorEvents, BeylaSupervisorOptions, HandoverProgress, PromotedExport, SupervisorStatus } from './supervisor-types.js';

export type * from './supervisor-types.js';
export { DEFAULT_TIMING } from '../lifecycle/timing.js';

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
  private readonly requests = new ApplyRequests(() => {
    const active = activeOf(this.machine);
    return active ? { generation: active.generation, portsString: active.target.portsString } : null;
  });
  private readonly mailbox: DesiredMailbox;
  private readonly effects: EffectHost;
  private readonly active: ActiveSlot;
  private readonly scrape: ActiveScrape;
  private readonly tracked = new CoverageTracker();
  private lastEmitted = '';
  private readonly stopped: Promise<void>;
  private readonly onPromote: BeylaSupervisorOptions['onPromote'];
  private readonly extraEnv: BeylaSupervisorOptions['instanceEnv'];
  private markStopped: () => void = () => undefined;

  constructor(opts: BeylaSupervisorOptions) {
    super();
    this.runtimeDir = opts.runtimeDir;
    this.rootLog = opts.logger;
    this.log = opts.logger.child({ component: 'beyla-supervisor' });
    this.excludePorts = [...opts.excludePorts];
    this.env = opts.env ?? process.env;
    this.timing = resolveTiming(opts.timing);
    this.active = new ActiveSlot({
      intervalMs: this.timing.livenessIntervalMs,
      timeoutMs: this.timing.livenessTimeoutMs,
      onResult: (generation, result) => {
        this.enqueue(() => ({ type: 'liveness', at: Date.now(), generation, ...result }));
        const active = activeOf(this.machine);
        return active?.generation === generation && active.hung === null;
      },
    });
    this.mailbox = new DesiredMailbox({ settings: opts.settings, env: this.env, excludePorts: this.excludePorts });
    this.metrics = createBeylaMetrics(opts.registry);
    this.scrape = new ActiveScrape({ reuseMs: this.timing.scrapeReuseMs, timeoutMs: this.timing.scrapeTimeoutMs, errors: this.metrics.scrapeErrors, log: this.log });
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
    const onResync = opts.onResync;
    this.effects = {
      candidates: this, metrics: this.metrics, timers: this.timers, requests: this.requests, mailbox: this.mailbox,
      promote: (generation) => this.promote(generation), deactivate: (generation) => this.deactivate(generation), resync: () => onResync?.(),
    };
    this.chain = Promise.resolve();
    // Survivors of a killed agent first: they keep instrumenting until an instance of ours is ready (or are adopted).
    if (opts.settings.enabled) this.enqueue(() => takeSurvivors({ runtimeDir: this.runtimeDir, graceMs: opts.settings.shutdownTimeoutMs + this.timing.stopMarginMs, logger: this.log, beylaLogger: this.rootLog, signal: this.abort.signal, track: (i) => this.track(i), outputLimits: this.outputLimits }));
  }

  /**
   * Records the newest desired state; resolves with this request's outcome ('superseded' if replaced
   * first). A caller whose `signal` aborts (the agent stopping) stops waiting at once with 'failed':
   * a candidate may take the readiness timeout to be ready, longer than systemd waits for a stop. The
   * request itself goes on until the supervisor answers it or stops; an aborted signal records nothing.
   */
  apply(desired: DesiredState, settings?: BeylaSettings, signal?: AbortSignal): Promise<ApplyOutcome> {
    if (this.abort.signal.aborted) return Promise.resolve(this.requests.outcome('failed', 0, 'the Beyla supervisor is stopped'));
    const gaveUp = (): ApplyOutcome => this.requests.outcome('failed', 0, 'not waited for: the agent is stopping');
    if (signal?.aborted) return Promise.resolve(gaveUp());
    const answered = new Promise<ApplyOutcome>((resolveOutcome) => {
      const id = this.requests.add(resolveOutcome);
      this.requests.answer(this.mailbox.put(desired, settings, id), 'superseded');
      this.enqueue(() => this.mailbox.take());
    });
    return untilAborted(answered, signal, gaveUp);
  }

  status(): SupervisorStatus {
    return supervisorStatus(this.statusSources(), this.tracked.last);
  }

  reportHandover(progress: HandoverProgress): void {
    this.handover.set(progress.generation, progress);
    this.emitState();
  }

  /** Per configured service, the processes listening on its ports and those the active instance instruments. */
  async coverage(): Promise<ServiceCoverage[]> {
    const active = activeOf(this.machine);
    const desired = active?.target.desired ?? this.mailbox.latest?.desired;
    return this.tracked.read({
      selectors: desired?.selectors ?? [], services: desired?.services ?? [], instrumented: active ? this.instances.get(active.generation)?.instrumented ?? null : null,
      generation: active?.generation ?? 0, excludePorts: this.excludePorts, selfPid: process.pid,
    });
  }

  activeInstance(): BeylaProcess | null {
    return this.active.current;
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
    const active = this.active.current;
    if (!active) return null;
    return this.scrape.tagged(active, signal);
  }

  /** Stops every process it started (SIGTERM, SIGKILL after shutdown_timeout plus a margin); resolves when all are gone. */
  async stop(): Promise<void> {
    if (!this.abort.signal.aborted) {
      this.abort.abort();
      this.requests.answer(this.mailbox.drop(), 'failed', 'the Beyla supervisor stopped');
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
        performEffect(this.effects, effect);
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

  private promote(generation: number): void {
    this.active.promote(this.instances.get(generation) ?? null);
    void this.coverage().catch((error: unknown) => this.log.debug({ err: error }, 'could not read service coverage'));
  }

  private deactivate(generation: number): void {
    if (this.active.deactivate(generation)) this.scrape.clear();
  }

  instanceEnv(generation: number): Record<string, string> {
    return this.extraEnv?.(generation) ?? {};
  }

  /** The promotion moment: the active instance and the ready candidate both run; onPromote scrapes both. */
  async beforeReady(candidate: BeylaProcess): Promise<void> {
    const old = this.active.current;
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

  private statusSources(): StatusSources {
    return { machine: this.machine, instances: this.instances, binary: this.mailbox.binary, handover: this.handover };
  }

  /** Emits the status when its signature (supervisor-status.ts) changed; runs after every event. */
  private emitState(): void {
    const signature = statusSignature(this.statusSources(), this.tracked.version);
    if (signature === this.lastEmitted) return;
    this.lastEmitted = signature;
    this.emit('state', this.status());
  }
}
