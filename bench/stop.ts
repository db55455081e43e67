// Benchmark: SIGTERM-to-exit of an agent with N drop-ins (10, 1,000, 10,000), idle and with a `coral status` in flight, with a few services really listening.
// Not in the default table's budget at 20,000: `node dist/bench/stop.js [N,N,...] [rounds]`; `npm run bench` runs 10 and 10,000 and gates the ratio of their stop times.
import { createServer, type Server } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { createDaemonHarness, type DaemonHarness } from '../test/support/daemon-harness.js';

export interface StopOptions {
  sizes?: number[];
  /** Services that really listen (the bench opens their sockets): coverage is worked out per listener. */
  listeners?: number;
  /** How long after asking for `coral status` the SIGTERM is sent. */
  statusLeadMs?: number;
  /** Agents started per size and case; each figure is the median. */
  rounds?: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Drop-in ports: 10000 and up, skipping the ports the listeners hold, which come first. */
function portsFor(n: number, taken: readonly number[]): number[] {
  const ports = taken.slice(0, n);
  for (let port = 10_000; ports.length < n; port++) if (!taken.includes(port)) ports.push(port);
  return ports;
}

async function listen(): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  return server;
}

/** Starts an agent with `n` drop-ins, runs `use` on it, and removes its temp dir (and anything left running) afterwards. */
async function withAgent<T>(n: number, ports: readonly number[], use: (h: DaemonHarness) => Promise<T>): Promise<T> {
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    const h = await createDaemonHarness({ after: (fn) => cleanups.push(fn) });
    const yaml = await readFile(h.configPath, 'utf8');
    await writeFile(h.configPath, yaml.replace('    interval: 1s', '    interval: 10s'));
    for (let i = 0; i < n; i++) await writeFile(join(h.servicesDir, `svc-${String(i).padStart(5, '0')}.yaml`), `name: svc-${i}\nport: ${ports[i]}\n`);
    await h.start(300_000);
    await delay(2000);
    return await use(h);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

/** ms from SIGTERM to the agent's exit (which harness.stop also checks: code 0, no Beyla left). */
async function timeStop(h: DaemonHarness): Promise<number> {
  const at = performance.now();
  await h.stop(120_000);
  return performance.now() - at;
}

export async function run(options: StopOptions = {}): Promise<Record<string, number>> {
  const sizes = options.sizes ?? [10, 1000, 10_000];
  const lead = options.statusLeadMs ?? 100;
  const servers: Server[] = [];
  const figures: Record<string, number> = {};
  try {
    for (let i = 0; i < (options.listeners ?? 4); i++) servers.push(await listen());
    const taken = servers.map((s) => (s.address() as { port: number }).port);
    for (const n of sizes) {
      const ports = portsFor(n, taken);
      const idle: number[] = [];
      const status: number[] = [];
      const busyStop: number[] = [];
      // The gates divide by the smallest size's stop (~50 ms): three rounds there keep one slow sample from passing for a fast stop.
      const rounds = n === sizes[0] ? Math.max(3, options.rounds ?? 1) : options.rounds ?? 1;
      for (let round = 0; round < rounds; round++) {
        idle.push(await withAgent(n, ports, timeStop));
        busyStop.push(await withAgent(n, ports, async (h) => {
          const askedAt = performance.now();
          await h.status(300_000);
          status.push(performance.now() - askedAt);
          // The stop with a status in flight: the control server's close ends it (the request fails).
          const inFlight = h.status(300_000).catch(() => undefined);
          await delay(lead);
          const stopMs = await timeStop(h);
          await inFlight;
          return stopMs;
        }));
      }
      figures[`idle_stop_ms_n${n}`] = Math.round(median(idle));
      figures[`status_ms_n${n}`] = Math.round(median(status));
      figures[`status_stop_ms_n${n}`] = Math.round(median(busyStop));
    }
    const [small, large] = [sizes[0], sizes[sizes.length - 1]];
    figures.status_stop_ratio = figures[`status_stop_ms_n${large}`]! / Math.max(1, figures[`status_stop_ms_n${small}`]!);
    figures.idle_stop_ratio = figures[`idle_stop_ms_n${large}`]! / Math.max(1, figures[`idle_stop_ms_n${small}`]!);
    return figures;
  } finally {
    for (const s of servers) s.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sizes = process.argv[2] ? process.argv[2].split(',').map(Number) : undefined;
  const f = await run({ ...(sizes ? { sizes } : {}), rounds: process.argv[3] ? Number(process.argv[3]) : 1 });
  for (const [key, value] of Object.entries(f)) console.log(`${key} ${Math.round(value * 100) / 100}`);
}
