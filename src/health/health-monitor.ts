// Periodic TCP/HTTP checks of the configured services: state with thresholds, one log line per transition, a gauge.
import { EventEmitter } from 'node:events';
import client from 'prom-client';
import type { HealthDefaults, HealthKind, Service } from '../config/types.js';
import type { Logger } from '../log.js';
import { checkHttp } from './check-http.js';
import { checkTcp } from './check-tcp.js';

export type HealthState = 'unknown' | 'up' | 'down';

export interface ServiceHealth {
  state: HealthState;
  kind: HealthKind;
  /** '127.0.0.1:8080', 'http://127.0.0.1:8080/healthz', or '' when not checked. */
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
}

/** Events: 'check' (name, health) after every finished check; 'change' (name, health, previous) on a state change. */
export interface HealthMonitorEvents {
  check: [name: string, health: ServiceHealth];
  change: [name: string, health: ServiceHealth, previous: HealthState];
}

const CHECK_HOST = '127.0.0.1';
const GAUGE = 'coral_agent_service_up';

interface Probe {
  kind: 'tcp' | 'http';
  port: number;
  path: string;
}

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
}

function probeOf(service: Service): Probe | undefined {
  const port = service.ports[0]?.from;
  if (service.health.kind === 'none' || port === undefined) return undefined;
  const path = service.health.path ?? '/';
  return { kind: service.health.kind, port, path: path.startsWith('/') ? path : `/${path}` };
}

function targetOf(probe: Probe | undefined): string {
  if (!probe) return '';
  return probe.kind === 'http' ? `http://${CHECK_HOST}:${probe.port}${probe.path}` : `${CHECK_HOST}:${probe.port}`;
}

function sameProbe(a: Probe | undefined, b: Probe | undefined): boolean {
  return a?.kind === b?.kind && a?.port === b?.port && a?.path === b?.path;
}

/**
 * Checks each service on the first port of its first range, one check at a time per service, the next
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

  constructor(opts: HealthMonitorOptions) {
    super();
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
  }

  private add(spec: { name: string; probe: Probe | undefined; intervalMs: number; timeoutMs: number; kind: HealthKind; hasPorts: boolean }): void {
    const health: ServiceHealth = { state: 'unknown', kind: spec.kind, target: targetOf(spec.probe), consecutiveFailures: 0 };
    if (spec.kind !== 'none' && !spec.hasPorts) health.lastError = 'the service has no port to check';
    const watch: Watch = {
      name: spec.name, probe: spec.probe, intervalMs: spec.intervalMs, timeoutMs: spec.timeoutMs, health,
      consecutiveSuccesses: 0, timer: undefined, inFlight: undefined, stopped: false,
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
      this.runCheck(watch).catch((error: unknown) => {
        this.logger.error({ err: error, service: watch.name }, 'health check handling failed');
      });
    }, delayMs);
    watch.timer.unref();
  }

  private async runCheck(watch: Watch): Promise<void> {
    const probe = watch.probe;
    if (!probe || watch.stopped) return;
    const controller = new AbortController();
    watch.inFlight = controller;
    const base = { host: CHECK_HOST, port: probe.port, timeoutMs: watch.timeoutMs, signal: controller.signal };
    let failure: string | undefined;
    try {
      await (probe.kind === 'http' ? checkHttp({ ...base, path: probe.path }) : checkTcp(base));
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    }
    watch.inFlight = undefined;
    if (watch.stopped) return;
    // Next check first, so a throwing event listener cannot stop the checks.
    this.schedule(watch, watch.intervalMs);
    this.record(watch, failure);
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
