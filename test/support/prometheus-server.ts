// Runs Debian's real `prometheus` for a test: free loopback port, temp data dir, 1 s scrapes, HTTP API queries, always reaped.
//
// Usage (node:test; `t` registers the cleanup, so the process is stopped even when the test fails):
//
//   const reason = prometheusMissing();            // a string saying what is missing, or undefined
//   if (reason) return t.skip(reason);
//   const prom = await startPrometheus(t, { targets: ['127.0.0.1:9464'] });   // job "coral-agent"
//   await prom.waitForScrapes(3);                   // >= 3 finished scrapes of every target
//   const up = await prom.query('up');              // instant vector/scalar/matrix: PromResult
//   const series = await prom.queryRange('rate(x[5s])', startSec, endSec, 1);
//   await prom.stop();                              // optional: t.after() does it too
//
// `query`/`queryRange` reject with Prometheus' own error text (e.g. a parse error) on a bad query.
// Options: `scrapeIntervalS` (default 1), `jobName` (default "coral-agent"), `ruleFiles` (loaded
// with a 1 s evaluation interval; `prom.alerts()` lists the alerts), `binary` (default
// /usr/bin/prometheus or $PROMETHEUS_BIN). The process gets SIGKILL if the test process dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pickFreePorts } from '../../src/beyla/pick-free-ports.js';
import type { AfterHook } from './daemon-harness.js';

export interface PrometheusOptions {
  /** host:port targets scraped at /metrics under one job. */
  targets: string[];
  jobName?: string;
  scrapeIntervalS?: number;
  /** Rule files (absolute paths) evaluated every scrape interval. */
  ruleFiles?: string[];
  binary?: string;
  /** How long to wait for /-/ready (default 30 s: TSDB start-up on a loaded machine). */
  readyDeadlineMs?: number;
}

/** One series of a result: `value` for vectors, `values` for matrices (sample time in s, value as text). */
export interface PromSeries {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

export interface PromResult {
  resultType: 'vector' | 'matrix' | 'scalar' | 'string';
  /** Series for vector/matrix; a single [time, value] for scalar/string. */
  result: PromSeries[] | [number, string];
}

export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
}

export interface PrometheusServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly dataDir: string;
  /** Pid of the Prometheus process (setpriv execs into it). */
  readonly pid: number;
  /** Instant query at `timeSec` (default now). */
  query(expr: string, timeSec?: number): Promise<PromResult>;
  /** Range query over [startSec, endSec] with `stepS`. */
  queryRange(expr: string, startSec: number, endSec: number, stepS: number): Promise<PromResult>;
  /** Resolves when every target has at least `count` finished scrapes (as counted by Prometheus' own `up`). */
  waitForScrapes(count: number, deadlineMs?: number): Promise<void>;
  /** Active alerts (pending and firing) from /api/v1/alerts. */
  alerts(): Promise<PromAlert[]>;
  /** Everything Prometheus wrote to stderr so far (its log). */
  log(): string;
  /** SIGTERM, await the exit (SIGKILL after 10 s), remove the data dir. Idempotent. */
  stop(): Promise<void>;
}

export const DEFAULT_PROMETHEUS = '/usr/bin/prometheus';

const prometheusBinary = (binary?: string): string => binary ?? process.env.PROMETHEUS_BIN ?? DEFAULT_PROMETHEUS;

/** Why a real Prometheus cannot run here (to skip with), or undefined when it can. */
export function prometheusMissing(binary?: string): string | undefined {
  const path = prometheusBinary(binary);
  try {
    accessSync(path, constants.X_OK);
    return undefined;
  } catch {
    return `${path} not found: install Debian's prometheus package (test/run-all.sh does)`;
  }
}

function configYaml(opts: PrometheusOptions): string {
  const interval = `${opts.scrapeIntervalS ?? 1}s`;
  const lines = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  scrape_timeout: ${interval}`,
    `  evaluation_interval: ${interval}`,
  ];
  if (opts.ruleFiles?.length) lines.push('rule_files:', ...opts.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`));
  lines.push(
    'scrape_configs:',
    `  - job_name: ${JSON.stringify(opts.jobName ?? 'coral-agent')}`,
    '    static_configs:',
    `      - targets: [${opts.targets.map((target) => JSON.stringify(target)).join(', ')}]`,
    '',
  );
  return lines.join('\n');
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  stderr: { text: string };
}

function launch(binary: string, dir: string, port: number): Running {
  // setpriv --pdeathsig: if the test process is killed, the kernel kills Prometheus with it.
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', binary,
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=info',
  ], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = { text: '' };
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr.text = (stderr.text + chunk).slice(-64_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, exited, stderr };
}

async function apiGet(url: string, path: string, params: Record<string, string>): Promise<unknown> {
  const response = await fetch(`${url}${path}?${new URLSearchParams(params).toString()}`);
  const body = (await response.json()) as { status: string; data?: unknown; error?: string; errorType?: string };
  if (body.status !== 'success') throw new Error(`Prometheus ${path} ${JSON.stringify(params)}: ${body.errorType ?? response.status}: ${body.error ?? 'no error text'}`);
  return body.data;
}

async function waitReady(url: string, running: Running, deadlineMs: number): Promise<'ready' | 'exited'> {
  const deadline = Date.now() + deadlineMs;
  let gone = false;
  void running.exited.then(() => { gone = true; });
  for (;;) {
    if (gone) return 'exited';
    try {
      const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) });
      await response.text();
      if (response.ok) return 'ready';
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`Prometheus not ready at ${url} within ${deadlineMs} ms; log:\n${running.stderr.text.slice(-3000)}`);
    await delay(50);
  }
}

async function terminate(running: Running): Promise<void> {
  if (running.child.exitCode !== null || running.child.signalCode !== null) return;
  running.child.kill('SIGTERM');
  const timer = new AbortController();
  const outcome = await Promise.race([running.exited.then(() => 'exited'), delay(10_000, 'timeout', { signal: timer.signal }).catch(() => 'exited')]);
  timer.abort();
  if (outcome === 'timeout') {
    running.child.kill('SIGKILL');
    await running.exited;
  }
}

/** Starts Prometheus scraping `opts.targets`; resolves once it answers /-/ready. Stopped by `t.after`. */
export async function startPrometheus(t: AfterHook, opts: PrometheusOptions): Promise<PrometheusServer> {
  const binary = prometheusBinary(opts.binary);
  const dir = await mkdtemp(join(tmpdir(), 'coral-prometheus-'));
  await writeFile(join(dir, 'prometheus.yml'), configYaml(opts));
  let running: Running | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (running) await terminate(running);
      await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };
  t.after(stop);

  let url = '';
  // The free port can be taken between asking the OS and Prometheus binding it: try a few.
  for (let attempt = 1; ; attempt += 1) {
    const [port] = await pickFreePorts(1);
    url = `http://127.0.0.1:${port}`;
    running = launch(binary, dir, port!);
    if ((await waitReady(url, running, opts.readyDeadlineMs ?? 30_000)) === 'ready') break;
    const inUse = /address already in use/.test(running.stderr.text);
    if (!inUse || attempt >= 5) {
      throw new Error(`Prometheus exited before it was ready (exit ${running.child.exitCode ?? running.child.signalCode}); log:\n${running.stderr.text.slice(-3000)}`);
    }
  }
  const current = running;
  const targetCount = opts.targets.length;

  const query = async (expr: string, timeSec?: number): Promise<PromResult> =>
    (await apiGet(url, '/api/v1/query', { query: expr, ...(timeSec === undefined ? {} : { time: String(timeSec) }) })) as PromResult;

  return {
    url,
    dataDir: join(dir, 'data'),
    pid: current.child.pid!,
    query,
    async queryRange(expr, startSec, endSec, stepS) {
      return (await apiGet(url, '/api/v1/query_range', { query: expr, start: String(startSec), end: String(endSec), step: String(stepS) })) as PromResult;
    },
    async waitForScrapes(count, deadlineMs = 30_000) {
      const job = JSON.stringify(opts.jobName ?? 'coral-agent');
      const deadline = Date.now() + deadlineMs;
      for (;;) {
        const result = (await query(`count_over_time(up{job=${job}}[1h])`)).result as PromSeries[];
        if (result.length === targetCount && result.every((s) => Number(s.value?.[1]) >= count)) return;
        if (Date.now() > deadline) throw new Error(`fewer than ${count} scrapes of ${targetCount} target(s) within ${deadlineMs} ms: ${JSON.stringify(result)}`);
        await delay(100);
      }
    },
    async alerts() {
      return ((await apiGet(url, '/api/v1/alerts', {})) as { alerts: PromAlert[] }).alerts;
    },
    log: () => current.stderr.text,
    stop,
  };
}
