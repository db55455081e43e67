// Benchmark: Beyla swaps with the test double's eBPF load delay, split into the wait for handover (Beyla's side) and the agent's own overhead.
import { spawn, type ChildProcess } from 'node:child_process';
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
  /** The double's eBPF load delay (spawn -> first process instrumented is at least this). Default 1500 ms. */
  ebpfLoadMs?: number;
  /** Beyla binary; default the test double. */
  binary?: string;
}

/** The listener's port (what handover waits for) plus one port without a listener that changes each swap (so each is a new config). */
function desired(listenerPort: number, extraPort: number): DesiredState {
  const ranges = [{ from: listenerPort, to: listenerPort }, { from: extraPort, to: extraPort }].sort((a, b) => a.from - b.from);
  return { services: [], ports: ranges, selectors: [{ services: ['bench'], openPorts: ranges }] };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? 0;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/** A process listening on an OS-chosen loopback port: the service Beyla must instrument. */
async function startListener(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['-e', `
    const server = require('node:net').createServer(() => {});
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolvePort, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolvePort(Number(chunk.toString().trim())));
    child.once('exit', (code) => reject(new Error(`the bench's listener exited with ${code}`)));
  });
  return { child, port };
}

async function stopListener(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
  child.kill('SIGKILL');
  await exited;
}

/**
 * Figures for a bench runner, in ms: median / p95 / max of each phase over the swaps. Per swap,
 * handover wait = candidate spawned -> the candidate's `instrumenting process` line for the
 * listener (as the agent read it); agent overhead = decision -> promoted, minus that wait.
 */
export async function run(options: SwapBenchOptions = {}): Promise<Record<string, number>> {
  const swaps = options.swaps ?? 10;
  const minUptimeMs = options.minUptimeMs ?? 1000;
  const ebpfLoadMs = options.ebpfLoadMs ?? 1500;
  const runtimeDir = await mkdtemp(join(tmpdir(), 'coral-bench-swap-'));
  const settings: BeylaSettings = {
    enabled: true,
    binary: options.binary ?? beylaDoublePath(),
    debounceMs: 0,
    maxWaitMs: 0,
    readiness: { timeoutMs: 30_000, minUptimeMs, requireInstrumented: false, handover: true },
    shutdownTimeoutMs: 10_000,
    whenEmpty: 'stop',
    config: { discovery: { poll_interval: '100ms', min_process_age: '0s' }, x_test_double: { ebpf_load_ms: ebpfLoadMs } },
    env: {},
  };
  const sup = new BeylaSupervisor({
    settings,
    runtimeDir,
    logger: createLogger({ level: 'silent', env: {} }),
    registry: new client.Registry(),
    excludePorts: [],
  });
  const listener = await startListener();
  const spawn: number[] = [];
  const handover: number[] = [];
  const overhead: number[] = [];
  const promoted: number[] = [];
  const withOldStopped: number[] = [];
  try {
    const first = await sup.apply(desired(listener.port, 20_000));
    if (first.result !== 'started') throw new Error(`Beyla did not start: ${first.error}`);
    for (let i = 1; i <= swaps; i++) {
      const outcome = await sup.apply(desired(listener.port, 20_000 + i));
      if (outcome.result !== 'swapped') throw new Error(`swap ${i} ${outcome.result}: ${outcome.error}`);
      const instance = sup.instances.get(outcome.generation);
      const seen = instance?.instrumented.snapshot().find((p) => p.pid === listener.child.pid);
      if (!instance || !seen) throw new Error(`swap ${i}: generation ${outcome.generation} was promoted without instrumenting the listener`);
      const promotedMs = sup.status().lastSwap?.durationMs ?? NaN;
      spawn.push(outcome.spawnMs ?? NaN);
      handover.push(seen.at - instance.startedAt);
      overhead.push(promotedMs - (seen.at - instance.startedAt));
      promoted.push(promotedMs);
      withOldStopped.push(outcome.durationMs);
    }
  } finally {
    await sup.stop();
    await stopListener(listener.child);
    await rm(runtimeDir, { recursive: true, force: true });
  }
  const figures: Record<string, number> = { swaps, min_uptime_ms: minUptimeMs, ebpf_load_ms: ebpfLoadMs };
  const phases = [['spawn', spawn], ['handover_wait', handover], ['overhead', overhead], ['promoted', promoted], ['old_stopped', withOldStopped]] as const;
  for (const [name, values] of phases) {
    figures[`${name}_median_ms`] = round1(percentile(values, 0.5));
    figures[`${name}_p95_ms`] = round1(percentile(values, 0.95));
    figures[`${name}_max_ms`] = round1(Math.max(...values));
  }
  // The gate's figure: what the agent adds to a swap, against the eBPF load it waits out (both this run).
  figures.overhead_over_ebpf_load = Math.round((percentile(overhead, 0.5) / ebpfLoadMs) * 1000) / 1000;
  return figures;
}

function printTable(f: Record<string, number>): void {
  const row = (label: string, name: string): string[] => [label, ...['median', 'p95', 'max'].map((k) => String(f[`${name}_${k}_ms`]))];
  const rows: string[][] = [
    ['phase', 'median ms', 'p95 ms', 'max ms'],
    row('decision -> candidate spawned', 'spawn'),
    row('wait for handover: spawned -> listener instrumented', 'handover_wait'),
    row('agent overhead: the rest of decision -> promoted', 'overhead'),
    row('full swap: decision -> promoted', 'promoted'),
    row('decision -> old instance exited', 'old_stopped'),
  ];
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  for (const r of rows) {
    console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  '));
  }
  console.log(`${f.swaps} swaps with the Beyla test double (eBPF load ${f.ebpf_load_ms} ms, readiness.min_uptime ${f.min_uptime_ms} ms); overhead / eBPF load = ${f.overhead_over_ebpf_load}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [swaps, minUptimeMs, ebpfLoadMs] = process.argv.slice(2, 5).map((a) => (a === undefined ? undefined : Number(a)));
  printTable(await run({ ...(swaps ? { swaps } : {}), ...(minUptimeMs !== undefined ? { minUptimeMs } : {}), ...(ebpfLoadMs !== undefined ? { ebpfLoadMs } : {}) }));
}
