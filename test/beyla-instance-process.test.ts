// BeylaInstance and real processes: exit tracked by the process (not its pipes), one process group per Beyla signalled as a whole, SIGHUP ignored.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BeylaInstance, type BeylaExit } from '../src/beyla/beyla-instance.js';
import { fetchText } from '../src/beyla/fetch-text.js';
import { pickFreePorts } from '../src/beyla/pick-free-ports.js';
import { beylaDoublePath } from './beyla-double/beyla-double-path.js';
import { captureLogger } from './support/capture-logger.js';
import { reap } from './support/reap.js';
import { waitFor } from './support/supervisor-fixtures.js';
import { isAlive } from './support/daemon-harness.js';
import { within } from './support/within.js';

interface Setup {
  dir: string;
  stateDir: string;
  configFile: string;
  ports: { metrics: number; health: number; internal: number };
}

async function setup(t: TestContext): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'coral-instance-'));
  const stateDir = join(dir, 'state');
  await mkdir(stateDir);
  const [metrics = 0, health = 0, internal = 0] = await pickFreePorts(3);
  const configFile = join(dir, 'beyla.yaml');
  await writeFile(configFile, [
    'discovery:', '  instrument:', '    - open_ports: "3000"', '  min_process_age: 0s',
    `prometheus_export: { port: ${metrics}, path: /metrics }`, `health_check: { port: ${health} }`,
    `internal_metrics: { exporter: prometheus, prometheus: { port: ${internal}, path: /internal/metrics } }`, '',
  ].join('\n'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return { dir, stateDir, configFile, ports: { metrics, health, internal } };
}

function start(t: TestContext, s: Setup, fault = ''): { instance: BeylaInstance; lines: Record<string, unknown>[] } {
  const { logger, lines } = captureLogger();
  const instance = new BeylaInstance({
    binary: beylaDoublePath(),
    configFile: s.configFile,
    generation: 1,
    ports: s.ports,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', FAKE_BEYLA_STATE_DIR: s.stateDir, FAKE_BEYLA_FAULT: fault },
    shutdownTimeoutMs: 1000,
    logger,
  });
  t.after(async () => {
    // Bounded: a wedged exit must fail its test, not hang the file.
    await within(instance.kill(), 10_000, 'the teardown kill').catch(() => {
      if (instance.pid) try { process.kill(-instance.pid, 'SIGKILL'); } catch { /* already gone */ }
    });
  });
  return { instance, lines };
}

/** The double's state file once it is written: its pid and the fork-child fault's child. */
async function stateOf(s: Setup, pid: number): Promise<{ pid: number; child_pid: number | null }> {
  await waitFor('the double to write its state file', async () => (await readdir(s.stateDir)).includes(`${pid}.json`));
  return JSON.parse(await readFile(join(s.stateDir, `${pid}.json`), 'utf8')) as { pid: number; child_pid: number | null };
}

const healthz = (port: number): Promise<string> => fetchText(`http://127.0.0.1:${port}/healthz`, { timeoutMs: 2000 });

describe('Beyla process group and exit', () => {
  // The grace is far longer than the deadline: an exit seen within the deadline cannot be the SIGKILL's.
  const GRACE_MS = 60_000;
  const DEADLINE_MS = 20_000;

  test('a child holding Beyla\'s stdout/stderr neither hides its exit nor outlives it', async (t) => {
    const s = await setup(t);
    const { instance, lines } = start(t, s, 'fork-child=pipes');
    assert.ok(instance.pid);
    const state = await stateOf(s, instance.pid);
    const child = state.child_pid;
    assert.ok(child && isAlive(child), 'the double forked its child');
    t.after(() => { if (isAlive(child)) process.kill(child, 'SIGKILL'); });
    const exit: BeylaExit = await within(instance.stop(GRACE_MS), DEADLINE_MS, 'the stop of a Beyla whose child holds its pipes');
    assert.equal(exit.code, 0, 'Beyla exited of its own accord after SIGTERM');
    assert.equal(exit.signal, null);
    assert.equal(exit.requested, true);
    assert.ok(!lines.some((line) => /sending SIGKILL/.test(String(line.msg))), 'no SIGKILL was needed for Beyla itself');
    await waitFor('the child to be gone', () => !isAlive(child), DEADLINE_MS);
  });

  test('a child on /dev/null that ignores SIGTERM does not survive the instance', async (t) => {
    const s = await setup(t);
    const { instance } = start(t, s, 'fork-child=devnull');
    assert.ok(instance.pid);
    const child = (await stateOf(s, instance.pid)).child_pid;
    assert.ok(child && isAlive(child), 'the double forked its child');
    t.after(() => { if (isAlive(child)) process.kill(child, 'SIGKILL'); });
    await within(instance.stop(GRACE_MS), DEADLINE_MS, 'the stop');
    await waitFor('the child to be gone', () => !isAlive(child), DEADLINE_MS);
  });

  test('a crash of Beyla takes its children with it', async (t) => {
    const s = await setup(t);
    const { instance } = start(t, s, 'fork-child=devnull,crash-after=0.5:3');
    assert.ok(instance.pid);
    const child = (await stateOf(s, instance.pid)).child_pid;
    assert.ok(child);
    t.after(() => { if (isAlive(child)) process.kill(child, 'SIGKILL'); });
    const exit = await within(instance.exited, DEADLINE_MS, 'the crash');
    assert.equal(exit.code, 3);
    assert.equal(exit.requested, false);
    await waitFor('the child to be gone', () => !isAlive(child), DEADLINE_MS);
  });
});

describe('SIGHUP', () => {
  test('a HUP to Beyla\'s whole process group (systemctl kill -s HUP signals the cgroup) leaves it running', async (t) => {
    const s = await setup(t);
    const { instance } = start(t, s);
    assert.ok(instance.pid);
    await stateOf(s, instance.pid);
    await waitFor('/healthz to answer', () => healthz(s.ports.health).then(() => true, () => false));
    process.kill(-instance.pid, 'SIGHUP');
    process.kill(instance.pid, 'SIGHUP');
    // The signals are pending before kill() returns, and a process handles them before it can
    // answer anything else: an answer now proves they did not kill it.
    const body = await healthz(s.ports.health);
    assert.match(body, /"schema_version":1/);
    assert.equal(instance.exit, null, `Beyla ${instance.describeExit()}`);
    assert.ok(isAlive(instance.pid));
  });

  test('the double, like Beyla, dies of SIGHUP when it was started without SIGHUP ignored', async (t) => {
    const s = await setup(t);
    const child = spawn(beylaDoublePath(), ['-config', s.configFile], { stdio: 'ignore', env: { ...process.env, FAKE_BEYLA_STATE_DIR: s.stateDir } });
    t.after(() => reap(child));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolveExit) => child.once('exit', (code, signal) => resolveExit({ code, signal })));
    assert.ok(child.pid);
    await stateOf(s, child.pid);
    process.kill(child.pid, 'SIGHUP');
    assert.deepEqual(await within(exited, 20_000, 'the double to die of SIGHUP'), { code: null, signal: 'SIGHUP' });
  });
});
