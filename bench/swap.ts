// Benchmark: the agent's own overhead per Beyla swap (decision -> candidate spawned) and the full swap time, with the test double.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import client from 'prom-client';
import type { BeylaSettings } from '../src/config/types.js';
import { createLogger } from '../src/log.js';
import type { DesiredState } from '../src/plan/types.js';
import { BeylaSupervisor } from '../src/beyla/supervisor.js';
import { beylaDoublePath } from '../test/beyla-double/beyla-double-path.js';

export interface SwapBenchOptions {
  /** Swaps measured (after one start). Default 10. */
  swaps?: number;
  /** readiness.min_uptime; the production default 1000 ms is the floor of every swap. */
  minUptimeMs?: number;
  /** Beyla binary; default the test double. */
  binary?: string;
}

function desired(port: number): DesiredState {
  const range = { from: port, to: port };
  return { services: [], ports: [range], selectors: [{ services: ['bench'], openPorts: [range] }] };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? 0;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/** Figures for a bench runner, in ms: median / p95 / max of each phase over the swaps. */
export async function run(options: SwapBenchOptions = {}): Promise<Record<string, number>> {
  const swaps = options.swaps ?? 10;
  const minUptimeMs = options.minUptimeMs ?? 1000;
  const runtimeDir = await mkdtemp(join(tmpdir(), 'coral-bench-swap-'));
  const settings: BeylaSettings = {
    enabled: true,
    binary: options.binary ?? beylaDoublePath(),
    debounceMs: 0,
    maxWaitMs: 0,
    readiness: { timeoutMs: 30_000, minUptimeMs, requireInstrumented: false },
    shutdownTimeoutMs: 10_000,
    whenEmpty: 'stop',
    config: {},
    env: {},
  };
  const sup = new BeylaSupervisor({
    settings,
    runtimeDir,
    logger: createLogger({ level: 'silent', env: {} }),
    registry: new client.Registry(),
    excludePorts: [],
  });
  const spawn: number[] = [];
  const promoted: number[] = [];
  const withOldStopped: number[] = [];
  try {
    const first = await sup.apply(desired(20_000));
    if (first.result !== 'started') throw new Error(`Beyla did not start: ${first.error}`);
    for (let i = 1; i <= swaps; i++) {
      const outcome = await sup.apply(desired(20_000 + i));
      if (outcome.result !== 'swapped') throw new Error(`swap ${i} ${outcome.result}: ${outcome.error}`);
      spawn.push(outcome.spawnMs ?? NaN);
      promoted.push(sup.status().lastSwap?.durationMs ?? NaN);
      withOldStopped.push(outcome.durationMs);
    }
  } finally {
    await sup.stop();
    await rm(runtimeDir, { recursive: true, force: true });
  }
  const figures: Record<string, number> = { swaps, min_uptime_ms: minUptimeMs };
  for (const [name, values] of [['spawn', spawn], ['promoted', promoted], ['old_stopped', withOldStopped]] as const) {
    figures[`${name}_median_ms`] = round1(percentile(values, 0.5));
    figures[`${name}_p95_ms`] = round1(percentile(values, 0.95));
    figures[`${name}_max_ms`] = round1(Math.max(...values));
  }
  return figures;
}

function printTable(f: Record<string, number>): void {
  const rows: string[][] = [
    ['phase', 'median ms', 'p95 ms', 'max ms'],
    ['agent overhead: decision -> candidate spawned', ...['median', 'p95', 'max'].map((k) => String(f[`spawn_${k}_ms`]))],
    ['full swap: decision -> promoted', ...['median', 'p95', 'max'].map((k) => String(f[`promoted_${k}_ms`]))],
    ['decision -> old instance exited', ...['median', 'p95', 'max'].map((k) => String(f[`old_stopped_${k}_ms`]))],
  ];
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  for (const row of rows) {
    console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  '));
  }
  console.log(`${f.swaps} swaps with the Beyla test double; readiness.min_uptime ${f.min_uptime_ms} ms is the floor of a full swap`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const swaps = process.argv[2] ? Number(process.argv[2]) : undefined;
  const minUptimeMs = process.argv[3] ? Number(process.argv[3]) : undefined;
  printTable(await run({ ...(swaps ? { swaps } : {}), ...(minUptimeMs !== undefined ? { minUptimeMs } : {}) }));
}
