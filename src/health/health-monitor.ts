// Periodic TCP/HTTP checks of the configured services: state with thresholds, one log line per transition, a gauge.
import { EventEmitter } from 'node:events';
import client from 'prom-client';
import type { HealthDefaults, HealthKind, Service } from '../config/types.js';
import type { Logger } from '../log.js';
import { CheckQueue } from './check-queue.js';
import type { HealthMonitorEvents, HealthState, ServiceHealth } from './health-types.js';
import { otherLoopback, stepAttempt, type Attempt, type LoopbackHost } from './step-attempt.js';
import { probeOf, sameProbe, targetOf, type Probe } from './probe-of.js';
import { recordCheck } from './record-check.js';
import { runAttempt } from './run-attempt.js';

export type { HealthMonitorEvents, HealthState, ServiceHealth } from './health-types.js';

export interface HealthMonitorOptions {
  logger: Logger;
  registry: client.Registry;
  defaults: HealthDefaults;
  /** Aborting it closes the monitor. */
  signal?: AbortSignal;
  /** Checks in flight at once, over every service. Default 64. */
  maxConcurrent?: number;
  /** Checks started per second, over every service. Default 250 (20,000 services every 10 s would be 2,000). */
  maxPerSecond?: number;
}

export const DEFAULT_MAX_CONCURRENT_CHECKS = 64;
export const DEFAULT_MAX_CHECKS_PER_SECOND = 250;

const GAUGE = 'coral_agent_service_up';

interface Watch {
  name: string;
  probe: Probe | undefined;
  intervalMs: number;
  timeoutMs: number;
  health: ServiceHealth;
  consecutiveSuccesses: number;
  timer: NodeJS.Timeout | undefined;
  inFlight: AbortController | undefined;
  stopped: boolean;
  /** When its check became due and joined the queue (ms, performance.now()); undefined when not queued. */
  queuedAtMs: number | undefined;
  /** The address that answered last: a check tries it first. */
  preferred: LoopbackHost;
  /** The check's first attempt, refused, while its attempt on the other address waits for a start slot. */
  refused: Attempt | undefined;
}

/**
 * Due checks wait in one queue (check-queue.ts) and start at most `maxPerSecond` a second with at
 * most `maxConcurrent` in flight: with thousands of services their checks are spread out, and a
 * check that cannot start in time runs late (logged once) rather than taking the agent's CPU.
 *
 * Checks each service on the first port of its first range, at 127.0.0.1 or ::1: the address that answered
 * last first, the other only when that one refuses the connection (a fallback attempt takes a start slot
 * of its own, ahead of the queue; step-attempt.ts). One check at a time per service, the next
 * starting `intervalMs` after the previous one finished. States and thresholds: record-check.ts.
 */
export class HealthMonitor extends EventEmitter<HealthMonitorEvents> {
  private readonly logger: Logger;
  private readonly defaults: HealthDefaults;
  private readonly gauge: client.Gauge<'service'>;
  /** This monitor made the gauge (it may reset it whole); else it shares it and removes its own series. */
  private readonly ownsGauge: boolean;
  private readonly watches = new Map<string, Watch>();
  private closed = false;
  private readonly onAbort = (): void => this.close();
  private readonly signal: AbortSignal | undefined;
  private readonly checks: CheckQueue<Watch>;

  constructor(opts: HealthMonitorOptions) {
    super();
    this.logger = opts.logger.child({ component: 'health' });
    this.checks = new CheckQueue<Watch>({
      maxConcurrent: Math.max(1, opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_CHECKS),
      maxPerSecond: Math.max(1, opts.maxPerSecond ?? DEFAULT_MAX_CHECKS_PER_SECOND),
      logger: this.logger,
      checks: () => this.watches.size,
      run: (watch) => this.runCheck(watch),
    });
    this.defaults = opts.defaults;
    const existing = opts.registry.getSingleMetric(GAUGE) as client.Gauge<'service'> | undefined;
    this.ownsGauge = existing === undefined;
    this.gauge = existing ?? new client.Gauge({
      name: GAUGE,
      help: 'Whether a configured service passes its health check (1 up, 0 down); absent while unknown.',
      labelNames: ['service'] as const,
      registers: [opts.registry],
    });
    this.signal = opts.signal;
    if (opts.signal?.aborted) this.closed = true;
    else opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Converge the checks on `services` (by name): start new ones, stop removed ones, retime changed ones. */
  update(services: readonly Service[]): void {
    if (this.closed) return;
    const byName = new Map(services.map((s) => [s.name, s]));
    for (const [name, watch] of this.watches) {
      if (!byName.has(name)) this.drop(watch);
    }
    for (const service of byName.values()) {
      const probe = probeOf(service);
      const intervalMs = service.health.intervalMs > 0 ? service.health.intervalMs : this.defaults.intervalMs;
      const timeoutMs = service.health.timeoutMs > 0 ? service.health.timeoutMs : this.defaults.timeoutMs;
      const watch = this.watches.get(service.name);
      if (watch && sameProbe(watch.probe, probe)) {
        const retimed = watch.intervalMs !== intervalMs;
        watch.intervalMs = intervalMs;
        watch.timeoutMs = timeoutMs;
        // A pending wait is restarted with the new interval; a check in flight reschedules itself.
        if (retimed && watch.timer) this.schedule(watch, intervalMs);
        continue;
      }
      if (watch) this.drop(watch);
      this.add({ name: service.name, probe, intervalMs, timeoutMs, kind: service.health.kind, hasPorts: service.ports.length > 0 });
    }
  }

  status(): Record<string, ServiceHealth> {
    const out: Record<string, ServiceHealth> = {};
    for (const name of [...this.watches.keys()].sort()) {
      const watch = this.watches.get(name);
      if (watch) out[name] = { ...watch.health };
    }
    return out;
  }

  /** Stop every check and drop the gauge series. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    // Every check at once, not drop() one by one: with 20,000 services the per-series removal took
    // 50-150 ms of the agent's stop (each timer still has to be cleared: about 0.5 µs apiece).
    for (const watch of this.watches.values()) {
      watch.stopped = true;
      clearTimeout(watch.timer);
      watch.timer = undefined;
      watch.inFlight?.abort();
      if (!this.ownsGauge) this.gauge.remove({ service: watch.name });
    }
    this.watches.clear();
    if (this.ownsGauge) this.gauge.reset();
    this.checks.close();
  }

  /** Checks waiting for a start slot now. */
  get queued(): number {
    return this.checks.queued;
  }

  private add(spec: { name: string; probe: Probe | undefined; intervalMs: number; timeoutMs: number; kind: HealthKind; hasPorts: boolean }): void {
    const preferred: LoopbackHost = '127.0.0.1';
    const health: ServiceHealth = { state: 'unknown', kind: spec.kind, target: targetOf(spec.probe, [preferred]), consecutiveFailures: 0 };
    if (spec.kind !== 'none' && !spec.hasPorts) health.lastError = 'the service has no port to check';
    const watch: Watch = {
      name: spec.name, probe: spec.probe, intervalMs: spec.intervalMs, timeoutMs: spec.timeoutMs, health,
      consecutiveSuccesses: 0, timer: undefined, inFlight: undefined, stopped: false, queuedAtMs: undefined,
      preferred, refused: undefined,
    };
    this.watches.set(spec.name, watch);
    if (spec.probe) this.schedule(watch, 0);
  }

  private drop(watch: Watch): void {
    watch.stopped = true;
    clearTimeout(watch.timer);
    watch.timer = undefined;
    watch.inFlight?.abort();
    this.watches.delete(watch.name);
    this.gauge.remove({ service: watch.name });
  }

  private schedule(watch: Watch, delayMs: number): void {
    clearTimeout(watch.timer);
    watch.timer = setTimeout(() => {
      watch.timer = undefined;
      this.checks.enqueue(watch);
    }, delayMs);
    watch.timer.unref();
  }

  /** One attempt of a check: the preferred address, or the other one after a refusal. */
  private async runCheck(watch: Watch): Promise<void> {
    const probe = watch.probe;
    if (!probe || watch.stopped) return;
    const first = watch.refused;
    watch.refused = undefined;
    const host = first ? otherLoopback(first.host) : watch.preferred;
    const controller = new AbortController();
    watch.inFlight = controller;
    const latest = await runAttempt({ probe, host, timeoutMs: watch.timeoutMs, signal: controller.signal });
    watch.inFlight = undefined;
    if (watch.stopped) return;
    const step = stepAttempt(first, latest);
    if (step.next === 'retry') {
      watch.refused = latest;
      this.checks.retry(watch);
      return;
    }
    if (step.answered) watch.preferred = step.answered;
    watch.health.target = targetOf(probe, step.hosts);
    // Next check first, so a throwing event listener cannot stop the checks.
    this.schedule(watch, watch.intervalMs);
    const previous = recordCheck(watch, step.failure, this.defaults);
    if (watch.health.state !== previous) this.transition(watch, previous);
    this.emit('check', watch.name, { ...watch.health });
  }

  private transition(watch: Watch, previous: HealthState): void {
    const { health, name } = watch;
    const fields = { service: name, kind: health.kind, target: health.target, previous };
    if (health.state === 'up') {
      this.gauge.set({ service: name }, 1);
      this.logger.info(fields, 'service is up');
    } else {
      this.gauge.set({ service: name }, 0);
      this.logger.warn({ ...fields, error: health.lastError, consecutive_failures: health.consecutiveFailures }, 'service is down');
    }
    this.emit('change', name, { ...health }, previous);
  }
}
