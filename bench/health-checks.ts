// Benchmark: agent CPU of the TCP health checks of 20,000 services every 10 s, with the start budget (spread, capped) and without it.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import client from 'prom-client';
import type { Service } from '../src/config/types.js';
import { HealthMonitor } from '../src/health/health-monitor.js';
import { createLogger } from '../src/log.js';

export interface HealthChecksBenchOptions {
  services?: number;
  intervalMs?: number;
  /**
   * CPU is measured over this window. Default one interval. Uncapped, every check starts in one
   * burst and each service's next check comes an interval after its last one finished, so the window
   * starts once the first round has finished: it then holds exactly one round (a window placed by
   * the clock fell between two bursts on a loaded machine and measured 0 checks, a ratio of 82; one
   * of two intervals held one or two bursts, a figure that varied by half). Capped, the checks are
   * steady: the window starts after half an interval.
   */
  windowMs?: number;
}

/** Services on ports nothing listens on (each check is a refused connect: the agent's side of a check, without a server's). */
function services(count: number, intervalMs: number): Service[] {
  return Array.from({ length: count }, (_, i): Service => ({
    name: `svc-${i}`,
    ports: [{ from: 20_000 + (i % 40_000), to: 20_000 + (i % 40_000) }],
    health: { kind: 'tcp', intervalMs, timeoutMs: 1000 },
    source: { file: 'bench.yaml', line: 1, col: 1 },
  } as Service));
}

/**
 * "Uncapped" is the agent before the budget: every due check at once, but within this process's
 * descriptor limit. 20,000 sockets at once (and each refused one's second attempt on ::1) reach a
 * 20,000-descriptor limit, and a check that fails with EMFILE costs next to nothing (the likely reason one run measured
 * the uncapped CPU at 10.5 % instead of 40-57 %). Two fifths of the soft limit leaves room for both attempts.
 */
function uncappedConcurrency(): number {
  const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return match ? Math.floor(Number(match[1]) * 0.4) : 1024;
}

/** Resolves once `count` checks have completed (the first round), polling every 20 ms; throws past `deadlineMs`. */
async function firstRound(done: () => number, count: number, deadlineMs: number): Promise<void> {
  const giveUpAt = performance.now() + deadlineMs;
  while (done() < count) {
    if (performance.now() > giveUpAt) throw new Error(`health-checks bench: the first round of ${count} checks did not finish within ${deadlineMs} ms`);
    await delay(20);
  }
}

async function measure(opts: { count: number; intervalMs: number; windowMs: number; capped: boolean }): Promise<{ cpuPct: number; checksPerSecond: number }> {
  const monitor = new HealthMonitor({
    logger: createLogger({ level: 'silent' }),
    registry: new client.Registry(),
    defaults: { intervalMs: opts.intervalMs, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 3 },
    ...(opts.capped ? {} : { maxConcurrent: uncappedConcurrency(), maxPerSecond: Number.MAX_SAFE_INTEGER }),
  });
  let checks = 0;
  monitor.on('check', () => {
    checks++;
  });
  monitor.update(services(opts.count, opts.intervalMs));
  if (opts.capped) await delay(opts.intervalMs / 2);
  else await firstRound(() => checks, opts.count, opts.intervalMs * 6);
  const cpu = process.cpuUsage();
  const before = checks;
  const started = performance.now();
  await delay(opts.windowMs);
  const used = process.cpuUsage(cpu);
  const elapsedMs = performance.now() - started;
  const done = checks - before;
  monitor.close();
  if (done === 0) throw new Error(`health-checks bench: no check completed in its ${Math.round(elapsedMs)} ms window (${opts.capped ? 'capped' : 'uncapped'}): the figure would mean nothing`);
  return { cpuPct: Math.round(((used.user + used.system) / 1000 / elapsedMs) * 1000) / 10, checksPerSecond: Math.round(done / (elapsedMs / 1000)) };
}

export async function run(options: HealthChecksBenchOptions = {}): Promise<Record<string, number>> {
  const count = options.services ?? 20_000;
  const intervalMs = options.intervalMs ?? 10_000;
  const windowMs = options.windowMs ?? intervalMs;
  const uncapped = await measure({ count, intervalMs, windowMs, capped: false });
  const capped = await measure({ count, intervalMs, windowMs, capped: true });
  return {
    services: count,
    interval_ms: intervalMs,
    uncapped_cpu_pct: uncapped.cpuPct,
    uncapped_checks_per_s: uncapped.checksPerSecond,
    capped_cpu_pct: capped.cpuPct,
    capped_checks_per_s: capped.checksPerSecond,
    capped_over_uncapped_cpu: Math.round((capped.cpuPct / Math.max(0.1, uncapped.cpuPct)) * 1000) / 1000,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const count = process.argv[2] ? Number(process.argv[2]) : undefined;
  const f = await run(count ? { services: count } : {});
  console.log(`${f.services} TCP health checks every ${f.interval_ms} ms: uncapped ${f.uncapped_cpu_pct}% of a core (${f.uncapped_checks_per_s} checks/s), capped ${f.capped_cpu_pct}% (${f.capped_checks_per_s} checks/s)`);
}
