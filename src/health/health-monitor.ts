// Periodic TCP/HTTP checks of the configured services: state with thresholds, one log line per transition, a gauge.
import { EventEmitter } from 'node:events';
import client from 'prom-client';
import type { HealthDefaults, HealthKind, Service } from '../config/types.js';
import type { Logger } from '../log.js';
import { checkHttp } from './check-http.js';
import { checkTcp } from './check-tcp.js';
import { otherLoopback, stepAttempt, type Attempt, type LoopbackHost } from './step-attempt.js';
import { probeOf, sameProbe, targetOf, type Probe } from './probe-of.js';

export type HealthState = 'unknown' | 'up' | 'down';

export interface ServiceHealth {
  state: HealthState;
  kind: HealthKind;
  /**
   * Where the last check got an answer: '127.0.0.1:8080', '[::1]:8080', 'http://127.0.0.1:8080/healthz';
   * both addresses ('127.0.0.1:8080, [::1]:8080') when neither answered; '' when not checked.
   */
  target: string;
  /** ISO time of the last finished check. */
  lastCheckAt?: string;
  /** Reason of the last failed check; cleared by a success. */
  lastError?: string;
  consecutiveFailures: number;
}

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

/** How far the start budget may lag behind the clock: a burst of this many ms worth of checks may start at once. */
const BURST_MS = 100;
/** Checks waiting for the budget start in batches this far apart: each wake-up of the agent costs more than a check. */
const PUMP_MS = 50;
export const DEFAULT_MAX_CONCURRENT_CHECKS = 64;
export const DEFAULT_MAX_CHECKS_PER_SECOND = 250;

/** Events: 'check' (name, health) after every finished check; 'change' (name, health, previous) on a state change. */
export interface HealthMonitorEvents {
  check: [name: string, health: ServiceHealth];
  change: [name: string, health: ServiceHealth, previous: HealthState];
}

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
 * Due checks wait in one queue and start at most `maxPerSecond` a second (spread evenly, a short
 * burst allowed) with at most `maxConcurrent` in flight: with thousands of services their checks
 * are spread out, and a check that cannot start in time runs late (logged once) rather than
 * taking the agent's CPU.
 *
 * Checks each service on the first port of its first range, at 127.0.0.1 or ::1: the address that answered
 * last first, the other only when that one refuses the connection (a fallback attempt takes a start slot
 * of its own, ahead of the queue). One check at a time per service, the next
 * starting `intervalMs` after the previous one finished. States: 'unknown' until the first verdict;
 * the first success from 'unknown' is 'up' at once; `unhealthyThreshold` consecutive failures make it
 * 'down' (from 'unknown' or 'up'); `healthyThreshold` consecutive successes bring a 'down' service back 'up'.
 */
export class HealthMonitor extends EventEmitter<HealthMonitorEvents> {
  private readonly logger: Logger;
  private readonly defaults: HealthDefaults;
  private readonly gauge: client.Gauge<'service'>;
  private readonly watches = new Map<string, Watch>();
  private closed = false;
  private readonly onAbort = (): void => this.close();
  private readonly signal: AbortSignal | undefined;
  private readonly maxConcurrent: number;
  private readonly startGapMs: number;
  /** Due checks, oldest first (`head` is the next; the array is compacted as it drains). */
  private queue: Watch[] = [];
  private head = 0;
  /** Fallback attempts of checks whose first address refused: they start before the queue (at most one per check in flight). */
  private retries: Watch[] = [];
  private running = 0;
  private nextStartAtMs = 0;
  private pumpTimer: NodeJS.Timeout | undefined;
  private lateLogged = false;

  constructor(opts: HealthMonitorOptions) {
    super();
    this.maxConcurrent = Math.max(1, opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_CHECKS);
    this.startGapMs = 1000 / Math.max(1, opts.maxPerSecond ?? DEFAULT_MAX_CHECKS_PER_SECOND);
    this.logger = opts.logger.child({ component: 'health' });
    this.defaults = opts.defaults;
    const existing = opts.registry.getSingleMetric(GAUGE) as client.Gauge<'service'> | undefined;
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
    for (const watch of this.watches.values()) this.drop(watch);
    clearTimeout(this.pumpTimer);
    this.queue = [];
    this.head = 0;
    this.retries = [];
  }

  /** Checks waiting for a start slot now. */
  get queued(): number {
    return this.queue.length - this.head + this.retries.length;
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
      this.enqueue(watch);
    }, delayMs);
    watch.timer.unref();
  }

  private enqueue(watch: Watch): void {
    if (watch.stopped || watch.queuedAtMs !== undefined) return;
    watch.queuedAtMs = performance.now();
    this.queue.push(watch);
    this.pump();
  }

  /** Start what the budget allows, oldest first; arm a timer for the next slot. */
  private pump(): void {
    clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    while (!this.closed && (this.retries.length > 0 || this.head < this.queue.length) && this.running < this.maxConcurrent) {
      const nowMs = performance.now();
      if (nowMs < this.nextStartAtMs) {
        this.pumpTimer = setTimeout(() => this.pump(), Math.max(PUMP_MS, Math.ceil(this.nextStartAtMs - nowMs)));
        this.pumpTimer.unref();
        return;
      }
      const watch = this.retries.shift() ?? this.queue[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      const waitedMs = nowMs - (watch.queuedAtMs ?? nowMs);
      watch.queuedAtMs = undefined;
      if (watch.stopped) continue;
      this.nextStartAtMs = Math.max(nowMs - BURST_MS, this.nextStartAtMs) + this.startGapMs;
      if (waitedMs > watch.intervalMs && !this.lateLogged) {
        this.lateLogged = true;
        this.logger.warn(
          { service: watch.name, late_ms: Math.round(waitedMs), interval_ms: watch.intervalMs, checks: this.watches.size, max_per_second: Math.round(1000 / this.startGapMs), max_concurrent: this.maxConcurrent },
          'health checks run late: more are due than the agent starts (services are checked less often than their interval)',
        );
      }
      this.running++;
      this.runCheck(watch)
        .catch((error: unknown) => this.logger.error({ err: error, service: watch.name }, 'health check handling failed'))
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
      this.lateLogged = false;
    }
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
    const base = { host, port: probe.port, timeoutMs: watch.timeoutMs, signal: controller.signal };
    const latest: Attempt = { host };
    try {
      await (probe.kind === 'http' ? checkHttp({ ...base, path: probe.path }) : checkTcp(base));
    } catch (error) {
      latest.error = error instanceof Error ? error : new Error(String(error));
    }
    watch.inFlight = undefined;
    if (watch.stopped) return;
    const step = stepAttempt(first, latest);
    if (step.next === 'retry') {
      watch.refused = latest;
      this.retries.push(watch);
      return;
    }
    if (step.answered) watch.preferred = step.answered;
    watch.health.target = targetOf(probe, step.hosts);
    // Next check first, so a throwing event listener cannot stop the checks.
    this.schedule(watch, watch.intervalMs);
    this.record(watch, step.failure);
  }

  private record(watch: Watch, failure: string | undefined): void {
    const health = watch.health;
    const previous = health.state;
    health.lastCheckAt = new Date().toISOString();
    if (failure === undefined) {
      health.consecutiveFailures = 0;
      delete health.lastError;
      watch.consecutiveSuccesses++;
      const threshold = Math.max(1, this.defaults.healthyThreshold);
      if (previous === 'unknown' || (previous === 'down' && watch.consecutiveSuccesses >= threshold)) health.state = 'up';
    } else {
      health.consecutiveFailures++;
      health.lastError = failure;
      watch.consecutiveSuccesses = 0;
      if (previous !== 'down' && health.consecutiveFailures >= Math.max(1, this.defaults.unhealthyThreshold)) health.state = 'down';
    }
    if (health.state !== previous) this.transition(watch, previous);
    this.emit('check', watch.name, { ...health });
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
