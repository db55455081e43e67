// Integration tests of BeylaSupervisor with real processes: the Beyla test double, real ports, signals and files.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import client from 'prom-client';
import type { BeylaSettings } from '../src/config/types.js';
import { createLogger } from '../src/log.js';
import { startMetricsServer } from '../src/metrics/start-metrics-server.js';
import { BeylaSupervisor, type SupervisorStatus, type SupervisorTiming } from '../src/beyla/supervisor.js';
import { beylaDoublePath } from './beyla-double/beyla-double-path.js';
import { desired, metricValue, settings, waitFor } from './support/supervisor-fixtures.js';

type LogLine = Record<string, unknown> & { msg?: string };

interface Harness {
  sup: BeylaSupervisor;
  dir: string;
  runtimeDir: string;
  stateDir: string;
  registry: client.Registry;
  logs: LogLine[];
  states: SupervisorStatus[];
  /** Every pid the supervisor reported, for the leak check. */
  pids: Set<number>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function harness(t: TestContext, opts: { settings?: BeylaSettings; timing?: Partial<SupervisorTiming>; env?: NodeJS.ProcessEnv } = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'coral-supervisor-'));
  const runtimeDir = join(dir, 'run');
  const stateDir = join(dir, 'state');
  await mkdir(stateDir);
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      callback();
    },
  });
  const registry = new client.Registry();
  const sup = new BeylaSupervisor({
    settings: opts.settings ?? settings(),
    runtimeDir,
    logger: createLogger({ level: 'debug', destination: sink, env: {} }),
    registry,
    excludePorts: [],
    env: { ...process.env, CORAL_BEYLA_PASS_ENV: 'FAKE_BEYLA_*', FAKE_BEYLA_STATE_DIR: stateDir, ...opts.env },
    timing: { stopMarginMs: 500, ...opts.timing },
  });
  const h: Harness = { sup, dir, runtimeDir, stateDir, registry, logs, states: [], pids: new Set() };
  sup.on('state', (status) => {
    h.states.push(status);
    for (const instance of status.instances) if (instance.pid) h.pids.add(instance.pid);
  });
  t.after(async () => {
    await sup.stop();
    for (const pid of h.pids) {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  });
  return h;
}

function activePid(h: Harness): number {
  const active = h.sup.status().instances.find((i) => i.role === 'active');
  assert.ok(active?.pid, `no active instance: ${JSON.stringify(h.sup.status())}`);
  return active.pid;
}

/** The pid of the instance of `generation` as the supervisor reported it. */
function pidOfGeneration(h: Harness, generation: number): number {
  for (const status of h.states) {
    const found = status.instances.find((i) => i.generation === generation && i.pid);
    if (found?.pid) return found.pid;
  }
  assert.fail(`generation ${generation} was never reported`);
}

function doublePids(text: string | null): string[] {
  return [...new Set([...(text ?? '').matchAll(/^beyla_double_info\{[^}]*pid="(\d+)"/gm)].map((m) => m[1] ?? ''))];
}

describe('BeylaSupervisor swaps', () => {
  test('a change starts a new instance on its own ports, promotes it and stops the old one', async (t) => {
    const h = await harness(t, {
      settings: settings({ env: { CORAL_EXPLICIT: 'kept', BEYLA_LOG_LEVEL: 'DEBUG' } }),
      env: { BEYLA_OPEN_PORT: '1-65535', OTEL_EBPF_TRACE_PRINTER: 'text', NOTIFY_SOCKET: '/run/systemd/notify' },
    });
    const first = await h.sup.apply(desired(8080));
    assert.equal(first.result, 'started', first.error);
    assert.equal(first.generation, 1);
    const oldPid = activePid(h);
    const oldFile = h.sup.status().instances[0]?.configFile ?? '';

    const second = await h.sup.apply(desired(8081, 8082));
    assert.equal(second.result, 'swapped', second.error);
    assert.equal(second.generation, 2);
    assert.equal(second.portsString, '8081-8082');
    const newPid = activePid(h);
    assert.notEqual(newPid, oldPid);
    assert.equal(isAlive(oldPid), false, 'the old instance is gone once the swap is reported');
    assert.equal(existsSync(oldFile), false, "the old generation's config is removed once it has exited");
    const status = h.sup.status();
    assert.deepEqual(status.instances.map((i) => [i.generation, i.role]), [[2, 'active']]);
    assert.equal(status.state, 'ready');
    assert.equal((await stat(status.instances[0]?.configFile ?? '')).mode & 0o777, 0o600);

    const scraped = await h.sup.scrapeActive();
    assert.deepEqual(doublePids(scraped), [String(newPid)]);
    assert.match(scraped ?? '', /open_ports="8081-8082"/);

    // What Beyla itself saw: only our selector, a scrubbed environment plus the explicit one.
    const seen = JSON.parse(await readFile(join(h.stateDir, `${newPid}.json`), 'utf8')) as { env_keys: string[]; open_ports: string[]; argv: string[] };
    assert.deepEqual(seen.open_ports, ['8081-8082']);
    assert.deepEqual(seen.argv, ['-config', status.instances[0]?.configFile]);
    assert.ok(seen.env_keys.includes('CORAL_EXPLICIT'));
    assert.ok(seen.env_keys.includes('BEYLA_LOG_LEVEL'), 'an explicit BEYLA_* from agent.beyla.env is kept');
    for (const leaked of ['BEYLA_OPEN_PORT', 'OTEL_EBPF_TRACE_PRINTER', 'NOTIFY_SOCKET']) {
      assert.ok(!seen.env_keys.includes(leaked), `${leaked} leaked into Beyla's environment`);
    }

    const metrics = await h.registry.metrics();
    assert.equal(metricValue(metrics, 'coral_agent_beyla_generation'), 2);
    assert.equal(metricValue(metrics, 'coral_agent_beyla_up'), 1);
    assert.equal(metricValue(metrics, 'beyla_discovery_ports_count'), 2);
    assert.equal(metricValue(metrics, 'beyla_restarts_total{reason="config_change"}'), 1);
    assert.equal(metricValue(metrics, 'coral_agent_beyla_swap_duration_seconds_count'), 2);

    // Beyla's own log lines arrive as structured records in the agent's log.
    const beylaLine = h.logs.find((l) => l.msg === 'Starting main node' && l.instance_pid === newPid);
    assert.ok(beylaLine, 'Beyla log line parsed into a record');
    assert.equal(beylaLine.beyla_component, 'beyla.Instrumenter');
    assert.equal(beylaLine.level, 30);

    const again = await h.sup.apply(desired(8082, 8081));
    assert.equal(again.result, 'unchanged');
    assert.equal(activePid(h), newPid);
  });

  test('a candidate whose config Beyla rejects (exit 255) is killed and the old one keeps serving', async (t) => {
    const h = await harness(t);
    assert.equal((await h.sup.apply(desired(8080))).result, 'started');
    const oldPid = activePid(h);
    const bad = settings({ config: { discovery: { poll_interval: 'soon' } } });
    const outcome = await h.sup.apply(desired(8081), bad);
    assert.equal(outcome.result, 'failed');
    assert.match(outcome.error ?? '', /wrong configuration: discovery\.poll_interval: time: invalid duration "soon"/);
    assert.equal(outcome.generation, 1);
    assert.equal(outcome.portsString, '8080');
    assert.equal(isAlive(pidOfGeneration(h, 2)), false, 'the failed candidate is gone');
    assert.equal(activePid(h), oldPid);
    assert.deepEqual(doublePids(await h.sup.scrapeActive()), [String(oldPid)]);
    const status = h.sup.status();
    assert.equal(status.lastSwap?.result, 'failed');
    assert.equal(status.lastSwap?.generation, 2);
    const failures = await h.registry.metrics();
    const byReason = (reason: string): number => metricValue(failures, `coral_agent_beyla_readiness_failures_total{reason="${reason}"}`) ?? 0;
    assert.equal(byReason('exited') + byReason('fatal'), 1, 'counted once, as an exit or its fatal line (whichever is seen first)');
    assert.equal(byReason('timeout') + byReason('not_instrumented'), 0);
    assert.ok(h.logs.some((l) => l.level === 50 && l.msg === 'Beyla candidate failed; the previous instance keeps serving'));
  });

  test('a failed swap is retried with backoff without a new change', async (t) => {
    const faultDir = await mkdtemp(join(tmpdir(), 'coral-fault-'));
    t.after(() => rm(faultDir, { recursive: true, force: true }));
    const faultFile = join(faultDir, 'fault');
    const h = await harness(t, { env: { FAKE_BEYLA_FAULT_FILE: faultFile }, timing: { swapRetryInitialMs: 200 } });
    assert.equal((await h.sup.apply(desired(8080))).result, 'started');
    await writeFile(faultFile, 'exit-at-start=255'); // taken by the next instance only
    const failed = await h.sup.apply(desired(8081));
    assert.equal(failed.result, 'failed');
    assert.match(failed.error ?? '', /generation 2 exited with code 255 before it was ready/);
    assert.equal(failed.portsString, '8080', 'the old instance still serves');
    const retried = await waitFor('the retry to succeed', () => (h.sup.status().portsString === '8081' ? h.sup.status() : undefined));
    assert.equal(retried.generation, 3);
    assert.equal(retried.state, 'ready');
    assert.equal(retried.reason, undefined);
  });

  test('a candidate that never gets ready is killed at the readiness deadline', async (t) => {
    const h = await harness(t);
    assert.equal((await h.sup.apply(desired(8080))).result, 'started');
    const oldPid = activePid(h);
    const stuck = settings({ readiness: { timeoutMs: 1500, minUptimeMs: 300, requireInstrumented: false }, config: { x_test_double: { fault: 'never-ready' } } });
    const outcome = await h.sup.apply(desired(8081), stuck);
    assert.equal(outcome.result, 'failed');
    assert.match(outcome.error ?? '', /not ready within 1500 ms \(\/healthz not answering/);
    assert.equal(isAlive(pidOfGeneration(h, 2)), false);
    assert.equal(activePid(h), oldPid);
  });

  test('an old instance that ignores SIGTERM is killed after shutdown_timeout plus the margin', async (t) => {
    const stubborn = settings({ shutdownTimeoutMs: 300, config: { x_test_double: { fault: 'hang-on-term' } } });
    const h = await harness(t, { settings: stubborn, timing: { stopMarginMs: 200 } });
    assert.equal((await h.sup.apply(desired(8080))).result, 'started');
    const oldPid = activePid(h);
    const outcome = await h.sup.apply(desired(8081), settings({ shutdownTimeoutMs: 300 }));
    assert.equal(outcome.result, 'swapped', outcome.error);
    assert.equal(isAlive(oldPid), false);
    const stopped = h.logs.find((l) => l.msg === 'Beyla instance stopped' && l.generation === 1);
    assert.equal(stopped?.signal, 'SIGKILL', 'the old instance ended by SIGKILL');
    assert.ok(h.logs.some((l) => l.msg === 'shutting down' && l.instance_pid === oldPid), 'it was asked with SIGTERM first');
  });

  test('requests that arrive before or during a swap: only the newest is applied, never a stale one after it', async (t) => {
    const h = await harness(t);
    const a = h.sup.apply(desired(7001));
    const b = h.sup.apply(desired(7002));
    const c = h.sup.apply(desired(7003));
    assert.equal((await a).result, 'superseded');
    assert.equal((await b).result, 'superseded');
    assert.equal((await c).result, 'started');
    assert.equal(h.sup.status().portsString, '7003');

    const d = h.sup.apply(desired(7004));
    await waitFor('a candidate', () => h.sup.status().instances.some((i) => i.role === 'candidate'));
    const e = h.sup.apply(desired(7005));
    const f = h.sup.apply(desired(7006));
    assert.equal((await d).result, 'swapped');
    assert.equal((await e).result, 'superseded');
    const last = await f;
    assert.equal(last.result, 'swapped');
    assert.equal(last.portsString, '7006');
    assert.equal(h.sup.status().portsString, '7006');
    const maxCandidates = Math.max(...h.states.map((s) => s.instances.filter((i) => i.role === 'candidate').length));
    assert.equal(maxCandidates, 1, 'never two candidates');
  });

  test('no services with when_empty stop: Beyla is stopped', async (t) => {
    const h = await harness(t);
    assert.equal((await h.sup.apply(desired(8080))).result, 'started');
    const pid = activePid(h);
    const outcome = await h.sup.apply(desired());
    assert.equal(outcome.result, 'stopped');
    assert.equal(isAlive(pid), false);
    assert.equal(h.sup.status().state, 'idle');
    assert.equal(await h.sup.scrapeActive(), null);
    assert.equal(metricValue(await h.registry.metrics(), 'coral_agent_beyla_up'), 0);
  });
});

describe('BeylaSupervisor failures and lifecycle', () => {
  test('a crashing instance is restarted with growing delays, then the circuit opens', async (t) => {
    const h = await harness(t, {
      env: { FAKE_BEYLA_FAULT: 'crash-after=1.5:3' },
      timing: { initialBackoffMs: 150, maxBackoffMs: 5000, circuitCrashes: 3, circuitWindowMs: 60_000, degradedRetryMs: 60_000 },
    });
    assert.equal((await h.sup.apply(desired(8080))).result, 'started');
    const degraded = await waitFor('the circuit to open', () => {
      const status = h.sup.status();
      return status.state === 'degraded' && status.circuitOpen ? status : undefined;
    }, 30_000);
    assert.match(degraded.reason ?? '', /circuit open after 3 crashes/);
    assert.match(degraded.reason ?? '', /exited with code 3/);
    const delays = h.logs.filter((l) => l.msg === 'Beyla restart scheduled').map((l) => l.restart_in_ms);
    assert.deepEqual(delays, [150, 300, 60_000]);
    assert.ok(h.logs.some((l) => l.level === 50 && /circuit open/.test(String(l.msg))));
    assert.equal(metricValue(await h.registry.metrics(), 'beyla_restarts_total{reason="crash"}'), 2);
    assert.deepEqual(h.sup.status().instances, []);
    assert.equal(await h.sup.scrapeActive(), null);
    assert.equal(h.pids.size, 3);
    for (const pid of h.pids) assert.equal(isAlive(pid), false);
  });

  test('an active instance that logs a fatal line while alive is replaced on the same config', async (t) => {
    const faultDir = await mkdtemp(join(tmpdir(), 'coral-fault-'));
    t.after(() => rm(faultDir, { recursive: true, force: true }));
    const faultFile = join(faultDir, 'fault');
    const trigger = join(faultDir, 'log-fatal-now');
    // Taken by the first instance only; it logs its fatal line once the test creates `trigger`,
    // after its promotion (a fixed delay could fall before it on a loaded machine, which fails
    // the candidate's readiness instead).
    await writeFile(faultFile, `fatal-log-on=${trigger}`);
    const h = await harness(t, { env: { FAKE_BEYLA_FAULT_FILE: faultFile }, timing: { initialBackoffMs: 100 } });
    assert.equal((await h.sup.apply(desired(8080))).result, 'started');
    const firstPid = activePid(h);
    await writeFile(trigger, '');
    const recovered = await waitFor('the replacement to be ready', () => {
      const status = h.sup.status();
      return status.state === 'ready' && status.generation === 2 ? status : undefined;
    });
    assert.equal(recovered.consecutiveCrashes, 1);
    assert.equal(recovered.portsString, '8080');
    assert.equal(isAlive(firstPid), false, 'the useless instance was stopped');
    const report = h.logs.find((l) => l.msg === 'active Beyla logged a fatal line: replacing it');
    assert.match(String(report?.beyla_error), /Unable to load eBPF watcher for process events/);
    assert.equal(metricValue(await h.registry.metrics(), 'beyla_restarts_total{reason="crash"}'), 1);
  });

  test('after stop() no process the supervisor started is left, even mid-swap and with one ignoring SIGTERM', async (t) => {
    const stubborn = settings({ shutdownTimeoutMs: 300, config: { x_test_double: { fault: 'hang-on-term' } } });
    const h = await harness(t, { settings: stubborn, timing: { stopMarginMs: 200 } });
    assert.equal((await h.sup.apply(desired(8080))).result, 'started');
    const pending = h.sup.apply(desired(8081), settings({ shutdownTimeoutMs: 300, config: { x_test_double: { fault: 'never-ready' } } }));
    await waitFor('a candidate', () => h.sup.status().instances.some((i) => i.role === 'candidate' && i.pid));
    await h.sup.stop();
    assert.equal(h.pids.size, 2);
    for (const pid of h.pids) assert.equal(isAlive(pid), false, `pid ${pid} survived stop()`);
    assert.equal((await pending).result, 'failed');
    assert.equal(h.sup.status().state, 'stopped');
    assert.equal((await h.sup.apply(desired(8082))).result, 'failed');
  });

  test('no binary: unavailable with the path and how to install; picked up when it appears', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'coral-nobin-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const binary = join(dir, 'bin', 'beyla');
    const h = await harness(t, { settings: settings({ binary }), timing: { binaryRecheckMs: 200 } });
    const outcome = await h.sup.apply(desired(8080));
    assert.equal(outcome.result, 'unavailable');
    assert.match(outcome.error ?? '', new RegExp(`${binary.replace(/[.]/g, '\\.')} is missing`));
    assert.match(outcome.error ?? '', /https:\/\/github\.com\/grafana\/beyla\/releases/);
    assert.equal(h.sup.status().state, 'unavailable');
    await mkdir(join(dir, 'bin'));
    await symlink(beylaDoublePath(), binary);
    const ready = await waitFor('the binary to be picked up', () => (h.sup.status().state === 'ready' ? h.sup.status() : undefined));
    assert.equal(ready.binary, binary);
    assert.equal(ready.portsString, '8080');
  });

  test('a binary that exists but cannot run is reported with its path and the install hint', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'coral-badbin-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const binary = join(dir, 'beyla');
    await writeFile(binary, '#!/nonexistent/interpreter\n');
    await chmod(binary, 0o755);
    const h = await harness(t, { settings: settings({ binary }) });
    const outcome = await h.sup.apply(desired(8080));
    assert.equal(outcome.result, 'failed');
    assert.match(outcome.error ?? '', /cannot run/);
    assert.ok((outcome.error ?? '').includes(binary));
    assert.match(outcome.error ?? '', /install Grafana Beyla/);
    assert.equal(h.sup.status().state, 'unavailable');
  });

  test('a scraper looping on the stable address through swaps never gets an error or two instances at once', async (t) => {
    const h = await harness(t);
    const server = await startMetricsServer({
      listen: '127.0.0.1:0',
      registry: h.registry,
      scrapeExtra: (signal) => h.sup.scrapeActive(signal),
      logger: createLogger({ level: 'silent', env: {} }),
    });
    t.after(() => server.close());
    assert.equal((await h.sup.apply(desired(9001))).result, 'started');
    const url = `http://127.0.0.1:${server.address.port}/metrics`;
    const problems: string[] = [];
    const seen = new Set<string>();
    let scrapes = 0;
    let done = false;
    const scraper = (async () => {
      while (!done) {
        try {
          const response = await fetch(url);
          const text = await response.text();
          if (response.status !== 200) problems.push(`status ${response.status}`);
          const pids = doublePids(text);
          if (pids.length > 1) problems.push(`two instances at once: ${pids.join(',')}`);
          pids.forEach((pid) => seen.add(pid));
          scrapes += 1;
        } catch (error) {
          problems.push(String(error));
        }
      }
    })();
    for (const port of [9002, 9003, 9004]) {
      const outcome = await h.sup.apply(desired(port));
      assert.equal(outcome.result, 'swapped', outcome.error);
    }
    await waitFor('a scrape of the last instance', () => seen.has(String(activePid(h))));
    done = true;
    await scraper;
    assert.deepEqual(problems, []);
    assert.ok(seen.size >= 2, `the scraper saw ${seen.size} instance(s) in ${scrapes} scrapes`);
  });

  test('require_instrumented: ready only once the listening service is instrumented', async (t) => {
    const listener = await startListener(t);
    const readiness = { timeoutMs: 5000, minUptimeMs: 300, requireInstrumented: true };
    const tuning = { discovery: { poll_interval: '100ms', min_process_age: '0s' } };
    const h = await harness(t, { settings: settings({ readiness, config: tuning }) });
    const outcome = await h.sup.apply(desired(listener.port));
    assert.equal(outcome.result, 'started', outcome.error);
    assert.ok(h.logs.some((l) => l.msg === 'instrumenting process' && l.beyla_pid === String(listener.pid)), 'Beyla reported instrumenting the service');

    const blind = settings({
      readiness: { ...readiness, timeoutMs: 3000 },
      // The listener is younger than min_process_age, so Beyla leaves it alone (exclude_instrument is refused in agent.beyla.config).
      config: { discovery: { ...tuning.discovery, min_process_age: '1h' } },
    });
    const failed = await h.sup.apply(desired(listener.port), blind);
    assert.equal(failed.result, 'failed');
    assert.match(failed.error ?? '', new RegExp(`node \\(pid ${listener.pid} port ${listener.port}\\) not instrumented yet`));
  });
});

/** A separate process listening on a free port (the supervisor never counts its own process). */
async function startListener(t: TestContext): Promise<{ port: number; pid: number }> {
  const child: ChildProcess = spawn(process.execPath, ['-e', `
    const server = require('node:net').createServer(() => {});
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
      child.kill('SIGKILL');
      await exited;
    }
  });
  const port = await new Promise<number>((resolvePort, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolvePort(Number(chunk.toString().trim())));
    child.once('exit', (code) => reject(new Error(`listener exited with ${code}`)));
  });
  assert.ok(child.pid);
  return { port, pid: child.pid };
}
