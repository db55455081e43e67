// Benchmark: the running agent's idle RSS and CPU against a bare Node process, and change-to-applied latency beyond the debounce.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createDaemonHarness, dropIn } from '../test/support/daemon-harness.js';

/** The agent the package ships (npm run build bundles it with esbuild); the tsc output when it was not built. */
const BUNDLED_AGENT = fileURLToPath(new URL('../bundle/cli/coral-agent.js', import.meta.url));

export interface DaemonBenchOptions {
  /**
   * How long both processes sit idle before the idle window. Default 10 s: V8's memory reducer
   * collects what start-up left about 8 s after a process goes quiet (measured on the agent:
   * 55.8 MiB until then, 51.8 MiB after), and an idle agent is what the figure describes.
   */
  settleMs?: number;
  /** CPU is measured over this idle window, and RSS is the median of a sample each second of it. Default 10 s. */
  idleWindowMs?: number;
  /** Change-to-applied rounds. Default 7. */
  rounds?: number;
  /** agent.beyla.debounce in ms for the latency rounds. Default 300. */
  debounceMs?: number;
}

function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

async function rssKiB(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(text);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/** utime + stime of `pid`, in clock ticks. */
async function cpuTicks(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ", field 3 (state) is index 0: utime is field 14, stime field 15.
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU time of every live thread of `pid`, in ns (/proc/<pid>/task/<tid>/schedstat; finer than clock ticks). */
async function cpuNs(pid: number): Promise<number> {
  let total = 0;
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    try {
      total += Number((await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')).split(' ')[0]);
    } catch {
      // the thread ended between readdir and read: its time is lost, a few µs at most
    }
  }
  return total;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const round1 = (n: number): number => Math.round(n * 10) / 10;
const round3 = (n: number): number => Math.round(n * 1000) / 1000;

export async function run(options: DaemonBenchOptions = {}): Promise<Record<string, number>> {
  const settleMs = options.settleMs ?? 10_000;
  const idleWindowMs = options.idleWindowMs ?? 10_000;
  const rounds = options.rounds ?? 7;
  const debounceMs = options.debounceMs ?? 300;
  const cleanups: Array<() => Promise<void>> = [];
  const bare = spawn(process.execPath, ['-e', 'setInterval(()=>{},1000)'], { stdio: 'ignore' });
  const bareExited = new Promise<void>((resolve) => bare.once('exit', () => resolve()));
  try {
    const h = await createDaemonHarness({ after: (fn) => cleanups.push(fn) }, {
      ...(existsSync(BUNDLED_AGENT) ? { agentPath: BUNDLED_AGENT } : {}),
      debounce: `${debounceMs}ms`,
      maxWait: '10s',
      dropIns: { 'web.yaml': dropIn('web', 3000) },
    });
    await h.start();
    await h.waitForLivePorts('3000');
    const barePid = bare.pid!;
    const startupRss = await rssKiB(h.pid);
    await delay(settleMs); // settling is the measurement, not a wait for an event

    const beylaRss = await rssKiB((await h.liveInstances())[0]!.pid);
    const ticks = clockTicksPerSecond();
    const agentStart = await cpuTicks(h.pid);
    const bareStart = await cpuTicks(barePid);
    const agentStartNs = await cpuNs(h.pid);
    const bareStartNs = await cpuNs(barePid);
    const windowStart = performance.now();
    const agentRssSamples: number[] = [];
    const bareRssSamples: number[] = [];
    for (let elapsed = 0; elapsed < idleWindowMs; elapsed = performance.now() - windowStart) {
      agentRssSamples.push(await rssKiB(h.pid));
      bareRssSamples.push(await rssKiB(barePid));
      await delay(Math.min(1000, idleWindowMs - elapsed));
    }
    const agentRss = median(agentRssSamples);
    const bareRss = median(bareRssSamples);
    const windowS = (performance.now() - windowStart) / 1000;
    const agentCpu = ((await cpuTicks(h.pid)) - agentStart) / ticks / windowS * 100;
    const bareCpu = ((await cpuTicks(barePid)) - bareStart) / ticks / windowS * 100;
    const agentCpuFine = ((await cpuNs(h.pid)) - agentStartNs) / 1e9 / windowS * 100;
    const bareCpuFine = ((await cpuNs(barePid)) - bareStartNs) / 1e9 / windowS * 100;
    const tickPct = 100 / ticks / windowS;

    // Change-to-applied: write a drop-in, wait for the reconcile that carries its port.
    const wallMs: number[] = [];
    const reportedMs: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const port = 20_000 + i;
      const from = h.mark();
      const start = performance.now();
      await h.writeDropIn(`svc-${i}.yaml`, dropIn(`svc-${i}`, port));
      const applied = await h.waitForReconcile(`svc-${i}.yaml applied`, { fromIndex: from, match: (r) => r.ports_added === String(port) });
      wallMs.push(performance.now() - start);
      reportedMs.push(applied.elapsed_ms as number);
      // Let the old instance go before the next round, so rounds do not overlap.
      const ports = ['3000', ...Array.from({ length: i + 1 }, (_, k) => String(20_000 + k))];
      await h.waitForLivePorts(ports.length > 2 ? `3000,20000-${20_000 + i}` : ports.join(','), 20_000);
    }
    await h.stop();

    return {
      bare_rss_mib: round1(bareRss / 1024),
      agent_rss_mib: round1(agentRss / 1024),
      agent_rss_at_ready_mib: round1(startupRss / 1024),
      rss_samples: agentRssSamples.length,
      rss_ratio: Math.round((agentRss / bareRss) * 100) / 100,
      beyla_double_rss_mib: round1(beylaRss / 1024),
      bare_idle_cpu_pct: round3(bareCpu),
      agent_idle_cpu_pct: round3(agentCpu),
      cpu_tick_pct: round3(tickPct),
      bare_idle_cpu_schedstat_pct: round3(bareCpuFine),
      agent_idle_cpu_schedstat_pct: round3(agentCpuFine),
      idle_window_s: round1(windowS),
      settle_s: round1(settleMs / 1000),
      debounce_ms: debounceMs,
      rounds,
      apply_wall_ms_median: round1(median(wallMs)),
      apply_wall_minus_debounce_ms_median: round1(median(wallMs) - debounceMs),
      apply_reported_minus_debounce_ms_median: round1(median(reportedMs) - debounceMs),
    };
  } finally {
    if (bare.exitCode === null && bare.signalCode === null) bare.kill('SIGTERM');
    await bareExited;
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

function printTable(f: Record<string, number>): void {
  const rows: [string, string, string][] = [
    ['measure', 'value', 'goal'],
    ['bare node RSS (MiB)', String(f.bare_rss_mib), ''],
    [`agent RSS (MiB, median of ${f.rss_samples} samples after ${f.settle_s} s idle)`, String(f.agent_rss_mib), ''],
    ['agent RSS as soon as it instruments web (MiB, not gated)', String(f.agent_rss_at_ready_mib), ''],
    ['agent / bare RSS', String(f.rss_ratio), '<= 1.5'],
    ['Beyla double RSS (MiB, not counted)', String(f.beyla_double_rss_mib), ''],
    [`bare node idle CPU, utime+stime (% of a core, ${f.idle_window_s} s; 1 tick = ${f.cpu_tick_pct})`, String(f.bare_idle_cpu_pct), ''],
    [`agent idle CPU, utime+stime (% of a core, ${f.idle_window_s} s)`, String(f.agent_idle_cpu_pct), '< 0.5'],
    ['bare node idle CPU, schedstat of all threads (%)', String(f.bare_idle_cpu_schedstat_pct), ''],
    ['agent idle CPU, schedstat of all threads (%)', String(f.agent_idle_cpu_schedstat_pct), '< 0.5'],
    [`change -> applied, wall (ms, median of ${f.rounds})`, String(f.apply_wall_ms_median), ''],
    [`  minus the ${f.debounce_ms} ms debounce`, String(f.apply_wall_minus_debounce_ms_median), ''],
    ['  as the agent reports it, minus the debounce', String(f.apply_reported_minus_debounce_ms_median), ''],
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const row of rows) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await run());
}
