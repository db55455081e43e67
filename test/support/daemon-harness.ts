// Runs the real daemon (`coral-agent run`) in a temp dir with the Beyla test double, and watches its logs, control socket and Beyla instances.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { controlRequest, type ControlResponse } from '../../src/control/control-request.js';
import { beylaDoublePath } from '../beyla-double/beyla-double-path.js';
import { startNotifyCapture, type NotifyCapture } from './daemon-notify-capture.js';

/** One JSON line of the daemon's stdout (pino); `unparsed` lines were not JSON. */
export type LogRecord = Record<string, unknown> & { msg: string; level: number; unparsed?: true };

/** A Beyla double process that is alive, with the ports its config selects ("3000,8080-8082"). */
export interface LiveInstance {
  pid: number;
  ports: string;
}

export interface DaemonHarnessOptions {
  /** agent.beyla.debounce, e.g. '300ms' (default). */
  debounce?: string;
  /** agent.beyla.max_wait (default '5s'). */
  maxWait?: string;
  /** Drop-ins written before the daemon starts: file name -> text. */
  dropIns?: Record<string, string>;
  /** Extra environment for the daemon (e.g. WATCHDOG_USEC). */
  env?: Record<string, string>;
  /** Bind a NOTIFY_SOCKET capture and pass it to the daemon. */
  notify?: boolean;
  /** The coral-agent entry point to run (default dist/src/cli/coral-agent.js; benchmarks run the shipped bundle). */
  agentPath?: string;
  /** agent.beyla.readiness.timeout (default '10s'). */
  readinessTimeout?: string;
  /** Discovery the double does at once (poll_interval 100ms, min_process_age 0s, in agent.beyla.config), for tests with real listeners. */
  fastDiscovery?: boolean;
}

export interface WaitOptions {
  /** Only records at or after this index of `logs` count (see `mark()`). */
  fromIndex?: number;
  deadlineMs?: number;
}

const DEFAULT_DEADLINE_MS = 15_000;

/** dist/src/cli/coral-agent.js, seen from dist/test/support/. */
export const coralAgentPath = (): string => fileURLToPath(new URL('../../src/cli/coral-agent.js', import.meta.url));

/** True while `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Polls `check` until it returns a truthy value, or throws at the deadline saying what it waited for. */
export async function waitUntil<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, deadlineMs = DEFAULT_DEADLINE_MS): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await delay(25);
  }
}

/** The coral.yaml the harness writes: every path inside the temp dir, short timings, metrics on port 0. */
export function coralYaml(opts: { dir: string; debounce: string; maxWait: string; readinessTimeout?: string; fastDiscovery?: boolean }): string {
  return [
    'agent:',
    '  services_dir: services.d',
    `  runtime_dir: ${join(opts.dir, 'run')}`,
    '  log_level: info',
    '  startup_timeout: 30s',
    '  resync_interval: 1h',
    '  beyla:',
    `    binary: ${beylaDoublePath()}`,
    `    debounce: ${opts.debounce}`,
    `    max_wait: ${opts.maxWait}`,
    '    readiness:',
    `      timeout: ${opts.readinessTimeout ?? '10s'}`,
    '      min_uptime: 200ms',
    '    shutdown_timeout: 2s',
    ...(opts.fastDiscovery ? ['    config:', '      discovery: { poll_interval: 100ms, min_process_age: 0s }'] : []),
    '  metrics:',
    '    listen: 127.0.0.1:0',
    '  control:',
    `    socket: ${join(opts.dir, 'ctl.sock')}`,
    '  health:',
    '    interval: 1s',
    '',
  ].join('\n');
}

/** A drop-in with one service and no health check (the ports have no listener). */
export const dropIn = (name: string, port: number | string): string => `name: ${name}\nport: ${port}\nhealth: none\n`;

/** Whether a log record reports a finished reconcile (it carries `result`: swapped, started, unchanged, failed...). */
export const isReconcileLog = (r: LogRecord): boolean => typeof r.result === 'string' && typeof r.generation === 'number';
/** Whether a log record reports a new Beyla generation in place ("... Beyla generation 1 -> 2 in 0.6s"). */
export const isSwapLog = (r: LogRecord): boolean => isReconcileLog(r) && /Beyla generation \d+ -> \d+/.test(r.msg);

export class DaemonHarness {
  readonly dir: string;
  readonly configPath: string;
  readonly servicesDir: string;
  readonly runtimeDir: string;
  readonly stateDir: string;
  readonly socketPath: string;
  /** Every log record of every run, in order. */
  readonly logs: LogRecord[] = [];
  notify: NotifyCapture | undefined;
  /** The stable scrape address, from the last `coral-agent ready` line. */
  metrics: { host: string; port: number } | undefined;
  readonly env: Record<string, string>;
  agentPath = coralAgentPath();
  private child: ChildProcess | undefined;
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  private stderr = '';
  private readonly listeners = new Set<() => void>();
  /** Every Beyla double pid ever seen, for the leak check. */
  private readonly seenPids = new Set<number>();

  constructor(dir: string, env: Record<string, string>) {
    this.dir = dir;
    this.configPath = join(dir, 'coral.yaml');
    this.servicesDir = join(dir, 'services.d');
    this.runtimeDir = join(dir, 'run');
    this.stateDir = join(dir, 'beyla-state');
    this.socketPath = join(dir, 'ctl.sock');
    this.env = env;
  }

  /** Writes services.d/<name> in place. */
  async writeDropIn(name: string, text: string): Promise<void> {
    await writeFile(join(this.servicesDir, name), text);
  }

  /** Index of the next log record, to wait for records after an action. */
  mark(): number {
    return this.logs.length;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number {
    if (!this.child?.pid) throw new Error('daemon not started');
    return this.child.pid;
  }

  /** Spawns `coral-agent run` and resolves with its `coral-agent ready` log record. */
  async start(deadlineMs = 30_000): Promise<LogRecord> {
    const from = this.launch();
    const ready = await this.waitForLog('coral-agent ready', (r) => r.msg.startsWith('coral-agent ready'), { fromIndex: from, deadlineMs });
    this.metrics = ready.metrics as { host: string; port: number };
    return ready;
  }

  /** Spawns `coral-agent run` (plus `extraArgs`) without waiting for anything; returns the index of its first log record. */
  launch(extraArgs: readonly string[] = []): number {
    if (this.running) throw new Error('daemon already running');
    const from = this.mark();
    this.stderr = '';
    // setpriv --pdeathsig: if the test process is killed (a file timeout cancels without t.after), the agent dies with it.
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', process.execPath, this.agentPath, 'run', '--config', this.configPath, ...extraArgs], {
      cwd: this.dir,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      resolve({ code, signal });
      this.wake();
    }));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk; });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let record: LogRecord;
      try {
        record = JSON.parse(line) as LogRecord;
      } catch {
        record = { msg: line, level: -1, unparsed: true };
      }
      this.logs.push(record);
      this.wake();
    });
    return from;
  }

  /** Resolves with how the daemon process ended; rejects (after a SIGKILL) at the deadline. */
  async waitForExit(deadlineMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.child || !this.exited) throw new Error('daemon not started');
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      this.exited,
      new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), deadlineMs); }),
    ]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
      throw new Error(`daemon did not exit within ${deadlineMs} ms${this.describeRun()}`);
    }
    return outcome;
  }

  /** Pids of Beyla doubles (ever seen by this harness) that are still alive. */
  async leftoverBeyla(): Promise<number[]> {
    await this.liveInstances();
    return [...this.seenPids].filter(isAlive);
  }

  private wake(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private describeRun(): string {
    const tail = this.logs.slice(-15).map((r) => (r.unparsed ? r.msg : JSON.stringify(r))).join('\n  ');
    return `\n-- last log lines:\n  ${tail}\n-- stderr:\n${this.stderr.slice(-2000)}`;
  }

  /** Resolves with the first record at or after `fromIndex` that matches; rejects at the deadline or when the daemon exits first. */
  waitForLog(what: string, match: (r: LogRecord) => boolean, opts: WaitOptions = {}): Promise<LogRecord> {
    const fromIndex = opts.fromIndex ?? 0;
    const deadlineMs = opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      const check = (): void => {
        const found = this.logs.slice(fromIndex).find(match);
        if (found) {
          finish();
          resolve(found);
        } else if (!this.running) {
          finish();
          reject(new Error(`daemon exited (${JSON.stringify(this.child?.exitCode ?? this.child?.signalCode)}) before logging "${what}"${this.describeRun()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no log line "${what}" within ${deadlineMs} ms${this.describeRun()}`));
      }, deadlineMs);
      this.listeners.add(check);
      check();
    });
  }

  /** The first finished reconcile logged at or after `fromIndex` that matches `match` (default: any). */
  waitForReconcile(what: string, opts: WaitOptions & { match?: (r: LogRecord) => boolean } = {}): Promise<LogRecord> {
    const match = opts.match ?? (() => true);
    return this.waitForLog(what, (r) => isReconcileLog(r) && match(r), opts);
  }

  /** Reconcile log records at or after `fromIndex`. */
  reconcilesSince(fromIndex: number): LogRecord[] {
    return this.logs.slice(fromIndex).filter(isReconcileLog);
  }

  /** Swap log records ("Beyla generation a -> b") at or after `fromIndex`. */
  swapsSince(fromIndex: number): LogRecord[] {
    return this.logs.slice(fromIndex).filter(isSwapLog);
  }

  /** GET /v1/status on the control socket. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async status(timeoutMs = 10_000): Promise<any> {
    const response = await controlRequest({ socketPath: this.socketPath, method: 'GET', path: '/v1/status', timeoutMs });
    if (response.status !== 200) throw new Error(`GET /v1/status answered ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body;
  }

  /** POST /v1/reload on the control socket (waits for the reconcile). */
  reload(): Promise<ControlResponse> {
    return controlRequest({ socketPath: this.socketPath, method: 'POST', path: '/v1/reload', timeoutMs: 30_000 });
  }

  /** GET the stable scrape address's /metrics. */
  async scrape(): Promise<string> {
    if (!this.metrics) throw new Error('no metrics address yet');
    const response = await fetch(`http://127.0.0.1:${this.metrics.port}/metrics`);
    if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
    return response.text();
  }

  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Beyla double processes alive now, from their state files (sorted by pid). */
  async liveInstances(): Promise<LiveInstance[]> {
    let names: string[];
    try {
      names = await readdir(this.stateDir);
    } catch {
      return [];
    }
    const out: LiveInstance[] = [];
    for (const name of names) {
      const match = /^(\d+)\.json$/.exec(name);
      if (!match) continue;
      const pid = Number(match[1]);
      this.seenPids.add(pid);
      if (!isAlive(pid)) continue;
      let state: { normalized_open_ports?: string };
      try {
        state = JSON.parse(await readFile(join(this.stateDir, name), 'utf8')) as { normalized_open_ports?: string };
      } catch {
        continue; // removed or replaced between readdir and read: the next poll sees it
      }
      out.push({ pid, ports: state.normalized_open_ports ?? '' });
    }
    return out.sort((a, b) => a.pid - b.pid);
  }

  /**
   * Waits until exactly one Beyla double is alive and it selects exactly `ports` (e.g. "3000,8080"),
   * or none is alive when `ports` is ''. Resolves with that instance.
   */
  async waitForLivePorts(ports: string, deadlineMs = DEFAULT_DEADLINE_MS): Promise<LiveInstance | undefined> {
    let last: LiveInstance[] = [];
    try {
      return await waitUntil(`one live Beyla double with ports "${ports}"`, async () => {
        if (!this.running) throw new Error(`daemon exited${this.describeRun()}`);
        last = await this.liveInstances();
        if (ports === '') return last.length === 0 ? { found: undefined } : false;
        return last.length === 1 && last[0]!.ports === ports ? { found: last[0] } : false;
      }, deadlineMs).then((r) => r.found);
    } catch (error) {
      throw new Error(`${(error as Error).message}; live now: ${JSON.stringify(last)}${this.describeRun()}`, { cause: error });
    }
  }

  /** SIGTERM, await the exit (code 0 expected), then check that no Beyla double outlived the daemon. */
  async stop(deadlineMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.child || !this.exited) throw new Error('daemon not started');
    await this.liveInstances();
    this.child.kill('SIGTERM');
    const outcome = await this.waitForExit(deadlineMs);
    const leaked = await this.leftoverBeyla();
    if (leaked.length > 0) {
      for (const pid of leaked) process.kill(pid, 'SIGKILL');
      throw new Error(`Beyla double pids ${leaked.join(', ')} outlived the daemon${this.describeRun()}`);
    }
    if (outcome.code !== 0) throw new Error(`daemon exited with ${JSON.stringify(outcome)} after SIGTERM${this.describeRun()}`);
    return outcome;
  }

  /** Kills whatever is still running and removes the temp dir (t.after). */
  async cleanup(): Promise<void> {
    if (this.running && this.exited) {
      this.child!.kill('SIGKILL');
      await this.exited;
    }
    await this.liveInstances();
    for (const pid of this.seenPids) {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    await this.notify?.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Where cleanup is registered: a node:test TestContext, or a bench's own list. */
export interface AfterHook {
  after(fn: () => Promise<void>): void;
}

/** A temp dir with coral.yaml, services.d (with `dropIns`) and a state dir for the double; cleaned up after the test. */
export async function createDaemonHarness(t: AfterHook, opts: DaemonHarnessOptions = {}): Promise<DaemonHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'coral-daemon-'));
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    // Nothing from the test runner's own service manager or coral settings may leak in.
    if (value === undefined || name.startsWith('CORAL_') || name.startsWith('FAKE_BEYLA_') || name.startsWith('WATCHDOG_')) continue;
    if (name === 'NOTIFY_SOCKET' || name === 'JOURNAL_STREAM' || name === 'LISTEN_FDS' || name === 'NODE_TEST_CONTEXT') continue;
    env[name] = value;
  }
  const harness = new DaemonHarness(dir, env);
  t.after(() => harness.cleanup());
  if (opts.agentPath) harness.agentPath = opts.agentPath;
  env.FAKE_BEYLA_STATE_DIR = harness.stateDir;
  env.FAKE_BEYLA_EXIT_WITH_PID = String(process.pid); // the agent's Beyla doubles outlive it by design (adoption), not the test
  env.CORAL_BEYLA_PASS_ENV = 'FAKE_BEYLA_*'; // the double's switches; Beyla itself gets an allow-listed environment
  env.CORAL_LOG_FORMAT = 'json'; // the harness reads the agent's log as JSON lines, whatever stdout is
  Object.assign(env, opts.env ?? {});
  await mkdir(harness.servicesDir, { mode: 0o755 });
  await mkdir(harness.stateDir);
  await writeFile(harness.configPath, coralYaml({ dir, debounce: opts.debounce ?? '300ms', maxWait: opts.maxWait ?? '5s', ...(opts.readinessTimeout ? { readinessTimeout: opts.readinessTimeout } : {}), ...(opts.fastDiscovery ? { fastDiscovery: true } : {}) }));
  for (const [name, text] of Object.entries(opts.dropIns ?? {})) await harness.writeDropIn(name, text);
  if (opts.notify) {
    harness.notify = await startNotifyCapture(join(dir, 'notify.sock'));
    env.NOTIFY_SOCKET = harness.notify.path;
  }
  return harness;
}
