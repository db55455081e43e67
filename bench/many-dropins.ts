// Benchmark: the agent with 20,000 drop-ins (each a service with a TCP health check every 10 s, or none): ready time, RSS, inotify watches, longest log record, idle CPU.
// Not in `npm run bench` (2-3 min): `node dist/bench/many-dropins.js [count] [none]`.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { createDaemonHarness } from '../test/support/daemon-harness.js';

export interface ManyDropInsOptions {
  fileCount?: number;
  /** Idle CPU is measured over this window after start-up. */
  idleWindowMs?: number;
  /** The drop-ins' health check: `tcp` (default, every 10 s) or `none` (what the agent costs without checks). */
  health?: 'tcp' | 'none';
}

async function rssKiB(pid: number): Promise<number> {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0);
}

/** inotify watches `pid` holds: one `inotify wd:` line per watch in /proc/PID/fdinfo. */
async function inotifyWatches(pid: number): Promise<number> {
  let count = 0;
  for (const fd of await readdir(`/proc/${pid}/fdinfo`)) {
    const text = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '');
    for (const line of text.split('\n')) if (line.startsWith('inotify wd:')) count++;
  }
  return count;
}

/** utime + stime of `pid` in clock ticks (100 a second). */
async function cpuTicks(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

export async function run(options: ManyDropInsOptions = {}): Promise<Record<string, number>> {
  const fileCount = options.fileCount ?? 20_000;
  const idleWindowMs = options.idleWindowMs ?? 20_000;
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    const h = await createDaemonHarness({ after: (fn) => cleanups.push(fn) });
    const yaml = await readFile(h.configPath, 'utf8');
    await writeFile(h.configPath, yaml.replace('    interval: 1s', '    interval: 10s'));
    for (let i = 0; i < fileCount; i++) {
      await writeFile(join(h.servicesDir, `svc-${String(i).padStart(5, '0')}.yaml`), `name: svc-${i}\nport: ${20_000 + i}\n${options.health === 'none' ? 'health: none\n' : ''}`);
    }
    const startedAt = performance.now();
    await h.start(300_000);
    const readyMs = performance.now() - startedAt;
    await delay(2000);
    const rss = await rssKiB(h.pid);
    const watches = await inotifyWatches(h.pid);
    const longest = Math.max(...h.logs.map((r) => JSON.stringify(r).length));
    const before = await cpuTicks(h.pid);
    await delay(idleWindowMs);
    const idleCpuPct = ((await cpuTicks(h.pid)) - before) / (idleWindowMs / 1000);
    const stopAt = performance.now();
    await h.stop(120_000);
    const stopMs = performance.now() - stopAt;
    return { files: fileCount, ready_ms: Math.round(readyMs), rss_mib: Math.round(rss / 1024), inotify_watches: watches, longest_log_record_chars: longest, idle_cpu_pct: Math.round(idleCpuPct * 10) / 10, stop_ms: Math.round(stopMs) };
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const count = process.argv[2] ? Number(process.argv[2]) : undefined;
  const health = process.argv[3] === 'none' ? 'none' : 'tcp';
  const f = await run({ ...(count ? { fileCount: count } : {}), health });
  console.log(`${f.files} drop-ins: ready in ${f.ready_ms} ms, RSS ${f.rss_mib} MiB, ${f.inotify_watches} inotify watches, longest log record ${f.longest_log_record_chars} chars, idle CPU ${f.idle_cpu_pct}% of a core (health ${health}), stopped in ${f.stop_ms} ms`);
}
