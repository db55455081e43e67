// The start-up sweep and the output FIFOs: a Beyla whose pid record was never written (or was cut short) is found by the FIFO it holds as stdout; FIFOs nobody holds are removed.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BeylaInstance } from '../src/beyla/beyla-instance.js';
import { createOutputFifos, outputFifoPaths } from '../src/beyla/output-fifos.js';
import { pickFreePorts } from '../src/beyla/pick-free-ports.js';
import { stopOrphans } from '../src/beyla/stop-orphans.js';
import { writeConfigFile } from '../src/beyla/write-config-file.js';
import { beylaDoublePath } from './beyla-double/beyla-double-path.js';
import { captureLogger } from './support/capture-logger.js';
import { isAlive, waitUntil } from './support/daemon-harness.js';

async function runtimeDir(t: TestContext): Promise<{ dir: string; stateDir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'coral-fifo-sweep-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'state');
  await mkdir(stateDir);
  return { dir, stateDir };
}

/** A Beyla double started as the supervisor starts one (config file, output FIFOs) but with no pid record: the agent "died" before writing it. */
async function unrecordedDouble(t: TestContext, dir: string, stateDir: string, generation: number): Promise<number> {
  const [metrics, health, internal] = await pickFreePorts(3);
  const configFile = await writeConfigFile({ runtimeDir: dir, generation, yaml: [
    'discovery: { instrument: [{ open_ports: "3000" }] }', `prometheus_export: { port: ${metrics}, path: /metrics }`,
    `health_check: { port: ${health} }`, `internal_metrics: { exporter: prometheus, prometheus: { port: ${internal}, path: /internal/metrics } }`, '',
  ].join('\n') });
  const instance = new BeylaInstance({
    binary: beylaDoublePath(), configFile, generation, ports: { metrics: metrics!, health: health!, internal: internal! },
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', FAKE_BEYLA_STATE_DIR: stateDir, FAKE_BEYLA_EXIT_WITH_PID: String(process.pid) },
    shutdownTimeoutMs: 1000, logger: captureLogger().logger, output: await createOutputFifos(dir, generation),
  });
  t.after(() => instance.kill());
  assert.ok(instance.pid);
  const pid = instance.pid;
  await waitUntil('the double to start', async () => (await readdir(stateDir)).includes(`${pid}.json`));
  return pid;
}

test('a Beyla with no pid record, or an empty one, is found by its output FIFO and stopped; FIFOs nobody holds are removed', async (t) => {
  const { dir, stateDir } = await runtimeDir(t);
  const unrecorded = await unrecordedDouble(t, dir, stateDir, 1);
  const cut = await unrecordedDouble(t, dir, stateDir, 2);
  await writeFile(join(dir, 'beyla-2.pid'), ''); // created, killed before a byte was written
  await createOutputFifos(dir, 3); // made, then the agent died before it started that Beyla
  const reports = await stopOrphans({ runtimeDir: dir, graceMs: 5000, logger: captureLogger().logger });
  const actionOf = (pid: number): string | undefined => reports.find((r) => r.pid === pid)?.action;
  assert.deepEqual([actionOf(unrecorded), actionOf(cut)], ['stopped', 'stopped']);
  await waitUntil('both to be gone', () => !isAlive(unrecorded) && !isAlive(cut));
  for (const generation of [1, 2, 3]) {
    const paths = outputFifoPaths(dir, generation);
    assert.deepEqual([existsSync(paths.stdout), existsSync(paths.stderr)], [false, false], `generation ${generation}'s FIFOs are removed`);
  }
  assert.equal(existsSync(join(dir, 'beyla-2.pid')), false);
});

test('with keepAlive, a Beyla with no pid record is a survivor (not adoptable: no digest), its FIFOs kept for reading', async (t) => {
  const { dir, stateDir } = await runtimeDir(t);
  const pid = await unrecordedDouble(t, dir, stateDir, 4);
  const reports = await stopOrphans({ runtimeDir: dir, graceMs: 5000, logger: captureLogger().logger, keepAlive: true });
  assert.deepEqual(reports.map((r) => [r.pid, r.action, r.digest]), [[pid, 'survivor', undefined]]);
  assert.ok(isAlive(pid));
  assert.ok(existsSync(outputFifoPaths(dir, 4).stdout));
});
