// Tests of the Beyla test double: it must keep the contract in /work/shared/BEYLA.md that coral-agent relies on.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import YAML from 'yaml';
import { beylaDoublePath } from './beyla-double/beyla-double-path.js';

const DEADLINE_MS = 10_000;

type Exit = { code: number | null; signal: NodeJS.Signals | null };
type Double = {
  child: ChildProcess;
  output: () => string;
  waitForLine: (pattern: RegExp) => Promise<string>;
  exit: Promise<Exit>;
};

const listen = async (server: Server, host?: string): Promise<number> => {
  server.listen({ port: 0, host });
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return address.port;
};

/** A port that was free a moment ago (listen on 0 on every interface, read it back, close). */
const freePort = async (): Promise<number> => {
  const server = createServer();
  const port = await listen(server);
  server.close();
  await once(server, 'close');
  return port;
};

/** A TCP listener held open for the rest of the test. */
const holdListener = async (t: TestContext, host?: string): Promise<number> => {
  const server = createServer();
  const port = await listen(server, host);
  t.after(() => server.close());
  return port;
};

const tempDir = async (t: TestContext): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'beyla-double-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
};

type Ports = { metrics: number; health: number; internal: number };

const freePorts = async (): Promise<Ports> => ({ metrics: await freePort(), health: await freePort(), internal: await freePort() });

type DocOptions = { openPorts?: unknown; discovery?: Record<string, unknown>; extra?: Record<string, unknown> };

/** A valid Beyla config document for the given ports; `discovery` and `extra` are merged on top. */
const configDoc = (ports: Ports, { openPorts = '3000,8080-8089', discovery = {}, extra = {} }: DocOptions = {}) => ({
  discovery: { instrument: [{ open_ports: openPorts }], poll_interval: '100ms', min_process_age: '0s', ...discovery },
  prometheus_export: { port: ports.metrics, path: '/metrics' },
  health_check: { port: ports.health },
  internal_metrics: { exporter: 'prometheus', prometheus: { port: ports.internal, path: '/internal/metrics' } },
  ...extra,
});

const writeConfig = async (dir: string, doc: unknown, name = 'beyla.yaml'): Promise<string> => {
  const path = join(dir, name);
  await writeFile(path, typeof doc === 'string' ? doc : YAML.stringify(doc));
  return path;
};

/** Spawns the double with a clean environment plus `env`; it is SIGKILLed and reaped after the test. */
const spawnDouble = (t: TestContext, { args, env = {} }: { args: string[]; env?: Record<string, string> }): Double => {
  const child = spawn(beylaDoublePath(), args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; });
  const exit = once(child, 'exit').then(([code, signal]) => ({ code, signal }) as Exit);
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exit;
  });
  const waitForLine = (pattern: RegExp) => new Promise<string>((resolve, reject) => {
    const check = () => {
      const line = text.split('\n').find((candidate) => pattern.test(candidate));
      if (line === undefined) return false;
      cleanup();
      resolve(line);
      return true;
    };
    const fail = (why: string) => () => { cleanup(); reject(new Error(`${why} waiting for ${pattern}; output:\n${text}`)); };
    const onExit = () => setImmediate(() => check() || fail('double exited')());
    const timer = setTimeout(fail('deadline passed'), DEADLINE_MS);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.off('exit', onExit);
    };
    if (check()) return;
    child.stdout?.on('data', check);
    child.on('exit', onExit);
  });
  return { child, output: () => text, waitForLine, exit };
};

/** Polls `probe` until it returns a value (not undefined) or the deadline passes. */
const eventually = async <T>(probe: () => Promise<T | undefined>, what: string): Promise<T> => {
  const deadline = Date.now() + DEADLINE_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`deadline passed waiting for ${what}`, { cause: lastError });
};

const getText = async (url: string): Promise<string> => {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  assert.equal(response.status, 200, url);
  return response.text();
};

/** The body of `url` once it answers and satisfies `accept`. */
const scrapeUntil = (url: string, accept: (body: string) => boolean) =>
  eventually(async () => {
    const body = await getText(url);
    return accept(body) ? body : undefined;
  }, url);

const healthz = (ports: Ports) => `http://127.0.0.1:${ports.health}/healthz`;
const metricsUrl = (ports: Ports) => `http://127.0.0.1:${ports.metrics}/metrics`;
const internalUrl = (ports: Ports) => `http://127.0.0.1:${ports.internal}/internal/metrics`;

test('a valid config serves /healthz, /metrics with the instance ports, internal metrics, and records a state file', async (t) => {
  const dir = await tempDir(t);
  const ports = await freePorts();
  const config = await writeConfig(dir, configDoc(ports, { openPorts: ' 8080-8089 , 3000' }));
  const double = spawnDouble(t, {
    args: ['-config', config],
    env: { FAKE_BEYLA_STATE_DIR: dir, BEYLA_LEAKED: 'x', NOTIFY_SOCKET: '/run/nope' },
  });

  const health = JSON.parse(await scrapeUntil(healthz(ports), () => true));
  assert.equal(health.schema_version, 1);
  assert.equal(typeof health.now_unix_ns, 'number');
  assert.ok(health.process_uptime_ns > 0);
  const metrics = await getText(metricsUrl(ports));
  assert.match(metrics, new RegExp(`^beyla_double_info\\{open_ports="3000,8080-8089",pid="${double.child.pid}"\\} 1$`, 'm'));
  assert.match(await getText(internalUrl(ports)), /^beyla_internal_build_info\{.*version="v3\.31\.0".*\} 1$/m);

  assert.match(double.output(), /^time=\S+Z level=INFO msg="Starting main node" component=beyla\.Instrumenter$/m);
  assert.match(double.output(), /^SDK \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d WARN /m);

  const statePath = join(dir, `${double.child.pid}.json`);
  const state = JSON.parse(await readFile(statePath, 'utf8'));
  assert.equal(state.config_path, config);
  assert.deepEqual(state.argv, ['-config', config]);
  assert.deepEqual(state.open_ports, [' 8080-8089 , 3000']);
  assert.equal(state.normalized_open_ports, '3000,8080-8089');
  assert.deepEqual(state.ports, { metrics: ports.metrics, health: ports.health, internal: ports.internal });
  assert.ok(state.env_keys.includes('BEYLA_LEAKED') && state.env_keys.includes('NOTIFY_SOCKET'));

  double.child.kill('SIGTERM');
  assert.deepEqual(await double.exit, { code: 0, signal: null });
  assert.match(double.output(), /level=INFO msg="shutting down" .*signal=SIGTERM/);
  assert.equal(existsSync(statePath), false, 'state file removed on clean exit');
});

test('BEYLA_CONFIG_PATH overrides -config, ${VAR} is expanded, and a YAML list of ports is accepted', async (t) => {
  const dir = await tempDir(t);
  const ports = await freePorts();
  const doc = YAML.stringify(configDoc(ports, { openPorts: [9000, 3000] })).replace(`port: ${ports.metrics}`, 'port: ${METRICS_PORT}');
  assert.ok(doc.includes('${METRICS_PORT}'));
  const config = await writeConfig(dir, doc);
  const double = spawnDouble(t, {
    args: ['-config', join(dir, 'missing.yaml')],
    env: { BEYLA_CONFIG_PATH: config, METRICS_PORT: String(ports.metrics) },
  });
  const metrics = await scrapeUntil(metricsUrl(ports), () => true);
  assert.match(metrics, /beyla_double_info\{open_ports="3000,9000",/);
  double.child.kill('SIGINT');
  assert.deepEqual(await double.exit, { code: 0, signal: null });
});

test('an invalid configuration exits 255 with a "wrong configuration" line', async (t) => {
  const dir = await tempDir(t);
  const ports = await freePorts();
  const valid = configDoc(ports);
  const cases: Array<[string, unknown]> = [
    ['bad ports string', configDoc(ports, { openPorts: 'abc' })],
    ['ports string with a dangling dash', configDoc(ports, { openPorts: '80-' })],
    ['bad YAML', 'discovery: [\n  - open_ports: "80"\n'],
    ['no discovery section', { ...valid, discovery: undefined }],
    ['no exporter', { discovery: valid.discovery, health_check: valid.health_check }],
  ];
  await Promise.all(cases.map(async ([name, doc], index) => {
    const config = await writeConfig(dir, doc, `case-${index}.yaml`);
    const double = spawnDouble(t, { args: ['-config', config] });
    assert.deepEqual(await double.exit, { code: 255, signal: null }, name);
    assert.match(double.output(), /^time=\S+ level=ERROR msg="wrong configuration" error=".+"$/m, name);
  }));
  const missing = spawnDouble(t, { args: ['--config', join(dir, 'missing.yaml')] });
  assert.deepEqual(await missing.exit, { code: 255, signal: null });
  assert.match(missing.output(), /msg="wrong configuration" error=".*no such file or directory"/);
});

test('a prometheus_export port already in use makes it exit 0 with "ended unexpectedly"', async (t) => {
  const dir = await tempDir(t);
  const taken = await holdListener(t);
  const ports = { ...(await freePorts()), metrics: taken };
  const double = spawnDouble(t, { args: ['-config', await writeConfig(dir, configDoc(ports))] });
  assert.deepEqual(await double.exit, { code: 0, signal: null });
  assert.match(double.output(), /level=ERROR msg="Prometheus endpoint service ended unexpectedly" .*address already in use/);
});

test('a health port already in use is logged and the instance keeps running', async (t) => {
  const dir = await tempDir(t);
  const taken = await holdListener(t, '127.0.0.1');
  const ports = { ...(await freePorts()), health: taken };
  const double = spawnDouble(t, { args: ['-config', await writeConfig(dir, configDoc(ports))] });
  await double.waitForLine(/level=ERROR msg="can't bind health endpoint"/);
  assert.match(await scrapeUntil(metricsUrl(ports), () => true), /beyla_double_info/);
  assert.equal(double.child.exitCode, null);
});

test('SIGHUP kills it at once, by the signal (a shell reports 129)', async (t) => {
  const dir = await tempDir(t);
  const ports = await freePorts();
  const double = spawnDouble(t, { args: ['-config', await writeConfig(dir, configDoc(ports))] });
  await scrapeUntil(healthz(ports), () => true);
  double.child.kill('SIGHUP');
  assert.deepEqual(await double.exit, { code: null, signal: 'SIGHUP' });
  assert.doesNotMatch(double.output(), /shutting down/);
});

test('a listener on a selected port is instrumented; one on another port is not', async (t) => {
  const dir = await tempDir(t);
  const selected = await holdListener(t, '127.0.0.1');
  const other = await holdListener(t, '127.0.0.1');
  const ports = await freePorts();
  const double = spawnDouble(t, { args: ['-config', await writeConfig(dir, configDoc(ports, { openPorts: `${selected}` }))] });

  const line = await double.waitForLine(/msg="instrumenting process"/);
  assert.match(line, new RegExp(`component=discover\\.traceAttacher cmd=\\S*node pid=${process.pid} .*service=node open_ports=${selected}$`));
  assert.equal(double.output().match(/msg="instrumenting process"/g)?.length, 1, `port ${other} is not selected`);
  await scrapeUntil(internalUrl(ports), (body) => /^beyla_instrumented_processes\{process_name="node"\} 1$/m.test(body));
  await scrapeUntil(metricsUrl(ports), (body) =>
    new RegExp(`^http_server_request_duration_seconds_count\\{.*server_port="${selected}",service_name="node"\\} [1-9]`, 'm').test(body));
});

test('selectors: exe_path is ANDed with ports, exclude_instrument subtracts, the double never instruments itself', async (t) => {
  const dir = await tempDir(t);
  const [excluded, wrongExe, wanted] = [await holdListener(t), await holdListener(t), await holdListener(t)];
  const ports = await freePorts();
  const doc = configDoc(ports, {
    discovery: {
      instrument: [
        { open_ports: `${excluded},${ports.metrics},${ports.health}` },
        { open_ports: `${wrongExe}`, exe_path: '*python*' },
        { open_ports: `${wanted}`, exe_path: '*/node', name: 'checkout' },
      ],
      exclude_instrument: [{ open_ports: excluded }],
    },
  });
  const double = spawnDouble(t, { args: ['-config', await writeConfig(dir, doc)] });
  const line = await double.waitForLine(/msg="instrumenting process"/);
  assert.match(line, new RegExp(`pid=${process.pid} .*service=checkout open_ports=${wanted}$`));
  assert.equal(double.output().match(/msg="instrumenting process"/g)?.length, 1);
  await scrapeUntil(internalUrl(ports), (body) => /^beyla_instrumented_processes\{process_name="node"\} 1$/m.test(body));
});

test('fault crash-after exits with the given code after the delay', async (t) => {
  const dir = await tempDir(t);
  const ports = await freePorts();
  const double = spawnDouble(t, {
    args: ['-config', await writeConfig(dir, configDoc(ports))],
    env: { FAKE_BEYLA_FAULT: 'crash-after=0.3:7', FAKE_BEYLA_STATE_DIR: dir },
  });
  await scrapeUntil(healthz(ports), () => true);
  assert.deepEqual(await double.exit, { code: 7, signal: null });
  assert.match(double.output(), /panic: /);
});

test('fault never-ready: /metrics answers but /healthz never does', async (t) => {
  const dir = await tempDir(t);
  const ports = await freePorts();
  const double = spawnDouble(t, {
    args: ['-config', await writeConfig(dir, configDoc(ports))],
    env: { FAKE_BEYLA_FAULT: 'never-ready' },
  });
  await scrapeUntil(metricsUrl(ports), () => true);
  await assert.rejects(fetch(healthz(ports), { signal: AbortSignal.timeout(500) }), { name: 'TimeoutError' });
  assert.equal(double.child.exitCode, null);
});

test('fault fatal-log logs the eBPF watcher error and keeps running', async (t) => {
  const dir = await tempDir(t);
  const ports = await freePorts();
  const double = spawnDouble(t, {
    args: ['-config', await writeConfig(dir, configDoc(ports))],
    env: { FAKE_BEYLA_FAULT: 'fatal-log=0.2' },
  });
  await double.waitForLine(/^time=\S+ level=ERROR msg="Unable to load eBPF watcher for process events"/);
  assert.equal(JSON.parse(await getText(healthz(ports))).schema_version, 1);
  assert.equal(double.child.exitCode, null);
});

test('fault hang-on-term ignores SIGTERM; only SIGKILL ends it', async (t) => {
  const dir = await tempDir(t);
  const ports = await freePorts();
  const double = spawnDouble(t, {
    args: ['-config', await writeConfig(dir, configDoc(ports, { extra: { x_test_double: { fault: 'hang-on-term' } } }))],
  });
  await scrapeUntil(healthz(ports), () => true);
  double.child.kill('SIGTERM');
  await double.waitForLine(/msg="shutting down"/);
  assert.equal(JSON.parse(await getText(healthz(ports))).schema_version, 1, 'still serving after SIGTERM');
  assert.equal(double.child.exitCode, null);
  double.child.kill('SIGKILL');
  assert.deepEqual(await double.exit, { code: null, signal: 'SIGKILL' });
});

test('the fault file affects only the next instance to start', async (t) => {
  const dir = await tempDir(t);
  const faultFile = join(dir, 'next-fault');
  await writeFile(faultFile, 'exit-at-start=3\n');
  const ports = await freePorts();
  const config = await writeConfig(dir, configDoc(ports));
  const env = { FAKE_BEYLA_FAULT_FILE: faultFile };

  const first = spawnDouble(t, { args: ['-config', config], env });
  assert.deepEqual(await first.exit, { code: 3, signal: null });
  assert.deepEqual(await readdir(dir), ['beyla.yaml'], 'fault file consumed');

  const second = spawnDouble(t, { args: ['-config', config], env });
  await scrapeUntil(healthz(ports), () => true);
  second.child.kill('SIGTERM');
  assert.deepEqual(await second.exit, { code: 0, signal: null });
});

test('fault slow-start brings the endpoints up only after the delay', async (t) => {
  const dir = await tempDir(t);
  const ports = await freePorts();
  const double = spawnDouble(t, {
    args: ['-config', await writeConfig(dir, configDoc(ports))],
    env: { FAKE_BEYLA_FAULT: 'slow-start=1' },
  });
  await double.waitForLine(/^SDK /);
  await assert.rejects(fetch(healthz(ports)), { name: 'TypeError' }, 'nothing listens yet');
  await scrapeUntil(healthz(ports), () => true);
  assert.equal(double.child.exitCode, null);
});

test('an unknown fault is refused loudly; like Beyla there is no --version: the first log line, the flag error, exit 2', async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(dir, configDoc(await freePorts()));
  const typo = spawnDouble(t, { args: ['-config', config], env: { FAKE_BEYLA_FAULT: 'crash-afterr=1' } });
  assert.deepEqual(await typo.exit, { code: 64, signal: null });
  assert.match(typo.output(), /unknown fault "crash-afterr=1"/);

  const version = spawnDouble(t, { args: ['--version'], env: { FAKE_BEYLA_VERSION: 'v9.9.9' } });
  assert.deepEqual(await version.exit, { code: 2, signal: null });
  assert.match(version.output(), /^time=\S+ level=INFO msg="Grafana Beyla" Version=v9\.9\.9 /m);
  assert.match(version.output(), /flag provided but not defined: -version/);
});

test('an exe_path glob gobwas cannot compile is a wrong configuration (exit 255)', async (t) => {
  const dir = await tempDir(t);
  const ports = await freePorts();
  const config = await writeConfig(dir, configDoc(ports, { discovery: { instrument: [{ exe_path: '*[web2*', open_ports: 9000 }] } }));
  const bad = spawnDouble(t, { args: ['-config', config] });
  assert.deepEqual(await bad.exit, { code: 255, signal: null });
  assert.match(bad.output(), /level=ERROR msg="wrong configuration" error="parsing YAML configuration: invalid regular expression in node !!str: unexpected end of input"/);
});
