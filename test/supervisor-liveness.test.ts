// BeylaSupervisor: a hung active Beyla (SIGSTOPped) is replaced make-before-break, and orphans left by a killed agent are stopped once the new one is ready.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type ClientRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import client from 'prom-client';
import { createLogger } from '../src/log.js';
import { fetchText } from '../src/beyla/fetch-text.js';
import { ownFaultOf } from '../src/beyla/probe-liveness.js';
import { CoralError } from '../src/errors.js';
import { pickFreePorts } from '../src/beyla/pick-free-ports.js';
import { BeylaSupervisor, type SupervisorTiming } from '../src/beyla/supervisor.js';
import { beylaDoublePath } from './beyla-double/beyla-double-path.js';
import { isAlive } from './support/daemon-harness.js';
import { reap } from './support/reap.js';
import { desired, metricValue, settings, waitFor } from './support/supervisor-fixtures.js';
import { within } from './support/within.js';

type LogLine = Record<string, unknown> & { msg?: string; level?: number };

interface Setup {
  dir: string;
  runtimeDir: string;
  stateDir: string;
  /** Pids to SIGCONT + SIGKILL after the test whatever happens. */
  cleanupPids: Set<number>;
}

async function setup(t: TestContext): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'coral-liveness-'));
  const runtimeDir = join(dir, 'run');
  const stateDir = join(dir, 'state');
  await mkdir(runtimeDir, { recursive: true });
  await mkdir(stateDir);
  const s: Setup = { dir, runtimeDir, stateDir, cleanupPids: new Set() };
  t.after(async () => {
    for (const pid of s.cleanupPids) {
      if (!isAlive(pid)) continue;
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch { /* exited meanwhile */ }
    }
    await rm(dir, { recursive: true, force: true });
  });
  return s;
}

function startSupervisor(t: TestContext, s: Setup, timing: Partial<SupervisorTiming> = {}): { sup: BeylaSupervisor; logs: LogLine[]; registry: client.Registry } {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      callback();
    },
  });
  const registry = new client.Registry();
  const sup = new BeylaSupervisor({
    settings: settings(),
    runtimeDir: s.runtimeDir,
    logger: createLogger({ level: 'debug', destination: sink, env: {} }),
    registry,
    excludePorts: [],
    env: { ...process.env, CORAL_BEYLA_PASS_ENV: 'FAKE_BEYLA_*', FAKE_BEYLA_STATE_DIR: s.stateDir },
    timing: { stopMarginMs: 500, ...timing },
  });
  sup.on('state', (status) => {
    for (const instance of status.instances) if (instance.pid) s.cleanupPids.add(instance.pid);
  });
  t.after(() => sup.stop());
  return { sup, logs, registry };
}

function activePid(sup: BeylaSupervisor): number {
  const active = sup.status().instances.find((i) => i.role === 'active');
  assert.ok(active?.pid, `no active instance: ${JSON.stringify(sup.status())}`);
  return active.pid;
}

describe('BeylaSupervisor liveness of the active instance', () => {
  test('a SIGSTOPped (hung) active Beyla is replaced on the same config before it is SIGKILLed', async (t) => {
    const s = await setup(t);
    const { sup, logs, registry } = startSupervisor(t, s, { livenessIntervalMs: 150, livenessFailures: 3, livenessTimeoutMs: 300 });
    assert.equal((await sup.apply(desired(8080, 8081))).result, 'started');
    const hungPid = activePid(sup);
    process.kill(hungPid, 'SIGSTOP');

    const replaced = await waitFor('a new generation after the hang', () => {
      const status = sup.status();
      return status.generation === 2 && status.state === 'ready' ? status : undefined;
    });
    assert.equal(replaced.portsString, '8080-8081', 'the replacement instruments the same ports');
    assert.notEqual(activePid(sup), hungPid);
    await waitFor('the hung instance to be reported stopped', () => logs.some((l) => l.msg === 'Beyla instance stopped' && l.generation === 1));
    assert.equal(isAlive(hungPid), false);

    const report = logs.find((l) => l.level === 50 && /active Beyla is unresponsive/.test(String(l.msg)));
    assert.ok(report, 'an error log names the hang');
    assert.match(String(report.reason), /\/healthz on 127\.0\.0\.1:\d+ did not answer 3 probes in a row/);
    assert.equal(logs.filter((l) => l.msg === 'active Beyla did not answer its liveness probe').length >= 3, true);
    // Make-before-break: generation 2 was promoted while the hung one still ran, then it was SIGKILLed.
    const promoted = logs.findIndex((l) => l.msg === 'Beyla generation promoted' && l.generation === 2);
    const stopped = logs.findIndex((l) => l.msg === 'Beyla instance stopped' && l.generation === 1);
    assert.ok(promoted >= 0 && stopped > promoted, `promoted at ${promoted}, hung one stopped at ${stopped}`);
    assert.equal(logs[stopped]?.signal, 'SIGKILL');
    const text = await registry.metrics();
    assert.equal(metricValue(text, 'beyla_restarts_total{reason="unresponsive"}'), 1);
    assert.equal(metricValue(text, 'beyla_restarts_total{reason="crash"}'), 0);
    assert.equal(sup.status().instances.length, 1);
  });

  test('a healthy active instance is probed and left alone; its probes stop with it', async (t) => {
    const s = await setup(t);
    const { sup, logs, registry } = startSupervisor(t, s, { livenessIntervalMs: 50, livenessFailures: 2, livenessTimeoutMs: 1000 });
    assert.equal((await sup.apply(desired(8080))).result, 'started');
    const pid = activePid(sup);
    // Many probe periods pass (awaited through a swap that needs readiness): no replacement for liveness.
    assert.equal((await sup.apply(desired(8080, 8082))).result, 'swapped');
    assert.equal((await sup.apply(desired(8080))).result, 'swapped');
    assert.equal(isAlive(pid), false, 'the first instance was replaced by the config changes');
    assert.equal(logs.some((l) => /unresponsive/.test(String(l.msg))), false);
    assert.equal(metricValue(await registry.metrics(), 'beyla_restarts_total{reason="unresponsive"}'), 0);
    assert.equal(metricValue(await registry.metrics(), 'beyla_restarts_total{reason="config_change"}'), 2);
  });
});

/** Resolves when this process next starts a GET of /healthz (the supervisor's liveness probe). */
function nextHealthProbe(): Promise<void> {
  return new Promise((resolveStarted) => {
    const onStart = (message: unknown): void => {
      if ((message as { request: ClientRequest }).request.path !== '/healthz') return;
      unsubscribe('http.client.request.start', onStart);
      resolveStarted();
    };
    subscribe('http.client.request.start', onStart);
  });
}

/** Blocks this process's event loop for `ms` (a real stall: no callback, timer or socket read runs meanwhile). */
function stallEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('ownFaultOf: which failed probes are the agent\'s fault', () => {
  const failure = (cause: Error, details: Record<string, unknown> = {}): CoralError => new CoralError('TEMPORARY', 'GET http://127.0.0.1:9/healthz failed', { cause, details });
  const errno = (code: string): Error => Object.assign(new Error(`connect ${code} 127.0.0.1:9`), { code });
  test('no descriptor, socket or memory for the probe is the agent\'s fault', () => {
    assert.equal(ownFaultOf(failure(errno('EMFILE')), null, 1000), 'emfile');
    assert.equal(ownFaultOf(failure(errno('ENFILE')), null, 1000), 'enfile');
    assert.equal(ownFaultOf(failure(errno('ENOBUFS')), null, 1000), 'resources');
  });
  test('a timeout is the agent\'s fault only when Beyla held the request for less than half the deadline', () => {
    const timeout = failure(new Error('no answer within 1000 ms'), { timed_out: true });
    assert.equal(ownFaultOf(timeout, null, 1000), 'event_loop_lag', 'never connected: the request never went out');
    assert.equal(ownFaultOf(timeout, 120, 1000), 'event_loop_lag');
    assert.equal(ownFaultOf(timeout, 990, 1000), undefined);
    assert.equal(ownFaultOf(failure(errno('ECONNREFUSED')), null, 1000), undefined, 'a refused connection is Beyla gone');
    assert.equal(ownFaultOf(failure(errno('ECONNRESET')), 5, 1000), undefined);
  });
});

describe("BeylaSupervisor liveness: the agent's own faults", () => {
  test('event-loop stalls longer than the probe deadline never make a healthy Beyla "unresponsive"', async (t) => {
    const s = await setup(t);
    const timeoutMs = 200;
    const { sup, logs, registry } = startSupervisor(t, s, { livenessIntervalMs: 20, livenessFailures: 2, livenessTimeoutMs: timeoutMs });
    assert.equal((await sup.apply(desired(8080))).result, 'started');
    const pid = activePid(sup);
    // Stall after stall with only one turn of the loop between: each probe's deadline passes while
    // the loop is blocked, whether its request went out before the stall or not.
    for (let i = 0; i < 12; i += 1) {
      await new Promise((resolveTurn) => setImmediate(resolveTurn));
      stallEventLoop(timeoutMs * 2);
    }
    // Probes run one after another: a probe that starts after the last stall means the one the
    // stall held has given its result. The supervisor's queue is FIFO, so a marker queued after
    // that start runs once the lifecycle has taken every earlier result.
    await within(nextHealthProbe(), 10_000, 'a liveness probe after the stalls');
    await within(new Promise<void>((resolveDrained) => sup.enqueue(() => { resolveDrained(); return null; })), 10_000, 'the probe results to reach the lifecycle');
    const text = await registry.metrics();
    // A probe whose request Beyla held for most of its deadline still counts (the double itself may
    // wait for a CPU on a loaded machine), but never two in a row: the stalls are not Beyla's.
    const held = logs.filter((l) => l.msg === 'active Beyla did not answer its liveness probe').length;
    t.diagnostic(`probes held against Beyla ${held}; own faults (event_loop_lag) ${metricValue(text, 'coral_agent_beyla_liveness_own_faults_total{reason="event_loop_lag"}')}`);
    assert.equal(logs.some((l) => /unresponsive/.test(String(l.msg))), false);
    assert.equal(metricValue(text, 'beyla_restarts_total{reason="unresponsive"}'), 0);
    assert.equal(activePid(sup), pid);
    assert.equal(sup.status().generation, 1);
  });
});

/** A Beyla double started outside any supervisor, as an agent killed by SIGKILL leaves it. */
async function startOrphan(t: TestContext, s: Setup, generation: number, env: Record<string, string> = {}): Promise<ChildProcess> {
  const [metrics = 0, health = 0] = await pickFreePorts(2);
  const configFile = join(s.runtimeDir, `beyla-${generation}.yaml`);
  await writeFile(configFile, [
    'discovery:',
    '  instrument:',
    `    - open_ports: "${9000 + generation}"`,
    `prometheus_export: { port: ${metrics}, path: /metrics }`,
    `health_check: { port: ${health} }`,
    '',
  ].join('\n'));
  const child = spawn(beylaDoublePath(), ['-config', configFile], {
    env: { ...process.env, FAKE_BEYLA_STATE_DIR: s.stateDir, ...env },
    stdio: 'ignore',
    detached: true,
  });
  const pid = child.pid;
  assert.ok(pid);
  s.cleanupPids.add(pid);
  t.after(() => reap(child));
  await writeFile(join(s.runtimeDir, `beyla-${generation}.pid`), `${pid}\n`);
  await waitFor(`orphan ${generation} to be up`, async () => (await readdir(s.stateDir)).includes(`${pid}.json`));
  return child;
}

describe('BeylaSupervisor orphans', () => {
  test('on start it keeps Beyla processes a killed agent left until the new one is ready, then stops them (SIGKILL for one ignoring SIGTERM), never a reused pid', async (t) => {
    const s = await setup(t);
    const polite = await startOrphan(t, s, 4);
    const stubborn = await startOrphan(t, s, 5, { FAKE_BEYLA_FAULT: 'hang-on-term' });
    // A record whose pid now belongs to an unrelated process: it must survive.
    const stranger = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    t.after(() => reap(stranger));
    assert.ok(stranger.pid);
    await writeFile(join(s.runtimeDir, 'beyla-6.pid'), `${stranger.pid}\n`);
    await writeFile(join(s.runtimeDir, 'beyla-6.yaml'), 'discovery: {}\n');

    const { sup, logs } = startSupervisor(t, s, { stopMarginMs: 300 });
    assert.equal((await sup.apply(desired(8080))).result, 'started');

    // Make-before-break: they ran (and instrumented) until the new instance was promoted.
    const promoted = logs.findIndex((l) => l.msg === 'Beyla generation promoted');
    const stopped = (pid: number | undefined): number => logs.findIndex((l) => l.msg === 'stopping a Beyla left by a previous agent' && l.pid === pid);
    assert.ok(promoted >= 0 && stopped(polite.pid) > promoted && stopped(stubborn.pid) > promoted, 'left-over instances are stopped after the new one is ready');
    await waitFor('the left-over instances to be gone', () => !isAlive(polite.pid!) && !isAlive(stubborn.pid!));
    assert.ok(logs.some((l) => l.msg === 'adopted Beyla did not exit after SIGTERM: sending SIGKILL' && l.generation === 5), 'the one ignoring SIGTERM was killed');
    assert.equal(isAlive(stranger.pid), true, 'a reused pid is never signalled');
    assert.ok(logs.some((l) => /pid reused/.test(String(l.msg)) && l.pid === stranger.pid));
    // Old records (and FIFOs) are gone; the running instance (numbered above theirs) has its own record with its pid, config and output FIFOs.
    await waitFor('only the new record left', async () => JSON.stringify((await readdir(s.runtimeDir)).sort()) === JSON.stringify(['beyla-6.pid', 'beyla-6.stderr', 'beyla-6.stdout', 'beyla-6.yaml']));
    const record = await readFile(join(s.runtimeDir, 'beyla-6.pid'), 'utf8');
    assert.equal(Number(record.split('\n')[0]), activePid(sup));
    assert.match(record, new RegExp(`\\nowner ${process.pid} \\d+\\n`), 'the record names its owning agent');

    await sup.stop();
    assert.deepEqual(await readdir(s.runtimeDir), [], 'the record, config and FIFOs are removed when the instance exits');
  });
});

describe('fetchText (the probes\' and scrapes\' GET)', () => {
  test('text on 2xx; a CoralError on non-2xx, a refused port and a server that never answers; no connection left open', async (t) => {
    const hanging: ServerResponse[] = [];
    const server = createServer((req, res) => {
      if (req.url === '/ok') res.end('hello');
      else if (req.url === '/hang') hanging.push(res);
      else {
        res.statusCode = 404;
        res.end('nope');
      }
    });
    await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', () => resolveListen()));
    t.after(() => {
      for (const res of hanging) res.destroy();
      server.close();
    });
    const port = (server.address() as AddressInfo).port;
    const base = `http://127.0.0.1:${port}`;
    assert.equal(await fetchText(`${base}/ok`, { timeoutMs: 2000 }), 'hello');
    await assert.rejects(fetchText(`${base}/missing`, { timeoutMs: 2000 }), (error: Error) => /answered 404/.test(error.message));
    await assert.rejects(fetchText(`${base}/hang`, { timeoutMs: 200 }), (error: Error) => error.cause instanceof Error && /no answer within 200 ms/.test(error.cause.message));
    const abort = new AbortController();
    const aborted = fetchText(`${base}/hang`, { timeoutMs: 10_000, signal: abort.signal });
    abort.abort();
    await assert.rejects(aborted, /failed/);
    const [closed = 0] = await pickFreePorts(1);
    await assert.rejects(fetchText(`http://127.0.0.1:${closed}/`, { timeoutMs: 2000 }), (error: Error) => (error.cause as NodeJS.ErrnoException).code === 'ECONNREFUSED');
    await waitFor('every connection to be closed', () => new Promise<boolean>((resolveCount) => server.getConnections((_e, count) => resolveCount(count === 0))));
  });
});
