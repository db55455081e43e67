// One agent per runtime directory: a second agent exits at once naming the first's pid; the orphan sweep leaves a Beyla whose owning agent still runs.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { instanceRecord } from '../src/beyla/instance-record.js';
import { pickFreePorts } from '../src/beyla/pick-free-ports.js';
import { stopOrphans } from '../src/beyla/stop-orphans.js';
import { beylaDoublePath } from './beyla-double/beyla-double-path.js';
import { captureLogger } from './support/capture-logger.js';
import { coralAgentPath, createDaemonHarness, isAlive } from './support/daemon-harness.js';
import { reap } from './support/reap.js';
import { waitFor } from './support/supervisor-fixtures.js';

test('a second agent on the same runtime dir exits 75 at once naming the first agent, whose Beyla is untouched', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': 'name: web\nport: 3000\nhealth: none\n' } });
  await h.start();
  const [first] = await h.waitForLivePorts('3000').then(() => h.liveInstances());
  assert.ok(first);
  const recordsBefore = (await readdir(h.runtimeDir)).filter((name) => /^beyla-\d+\.(pid|yaml)$/.test(name)).sort();
  const second = spawn(process.execPath, [coralAgentPath(), 'run', '--config', h.configPath], { env: h.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  second.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  second.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  t.after(() => reap(second));
  const code = await new Promise<number | null>((resolveExit) => second.once('exit', resolveExit));
  assert.equal(code, 75, output);
  assert.match(output, new RegExp(`another coral-agent \\(pid ${h.pid}\\) is running on ${h.runtimeDir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  assert.ok(isAlive(first.pid), 'the first agent\'s Beyla is still alive');
  assert.deepEqual((await h.liveInstances()).map((i) => i.pid), [first.pid]);
  const recordsAfter = (await readdir(h.runtimeDir)).filter((name) => /^beyla-\d+\.(pid|yaml)$/.test(name)).sort();
  assert.deepEqual(recordsAfter, recordsBefore, 'its pid record and config are where they were');
  await h.stop();
});

async function startDouble(t: TestContext, runtimeDir: string, stateDir: string, generation: number): Promise<number> {
  const [metrics = 0, health = 0] = await pickFreePorts(2);
  const configFile = join(runtimeDir, `beyla-${generation}.yaml`);
  await writeFile(configFile, `discovery:\n  instrument:\n    - open_ports: "${9100 + generation}"\nprometheus_export: { port: ${metrics}, path: /metrics }\nhealth_check: { port: ${health} }\n`);
  const child = spawn(beylaDoublePath(), ['-config', configFile], { env: { ...process.env, FAKE_BEYLA_STATE_DIR: stateDir }, stdio: 'ignore', detached: true });
  const pid = child.pid;
  assert.ok(pid);
  child.unref();
  t.after(() => reap(child));
  await waitFor('the double to be up', async () => (await readdir(stateDir)).includes(`${pid}.json`));
  return pid;
}

test('the orphan sweep stops a Beyla only when its owning agent (pid and start time) is gone', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coral-owner-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'state');
  await mkdir(stateDir);
  // Owned by a live agent (this process: the record names it, as a running agent's records do).
  const owned = await startDouble(t, dir, stateDir, 1);
  await instanceRecord({ runtimeDir: dir, generation: 1, pid: owned });
  // Owned by an agent that is gone: a process that ran and was reaped.
  const orphan = await startDouble(t, dir, stateDir, 2);
  const dead = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolveExit) => dead.once('exit', resolveExit));
  await writeFile(join(dir, 'beyla-2.pid'), `${orphan}\nowner ${dead.pid} 12345\n`);
  // A live pid with another start time is another process that got the pid: the owner is gone.
  const reused = await startDouble(t, dir, stateDir, 3);
  await writeFile(join(dir, 'beyla-3.pid'), `${reused}\nowner ${process.pid} 1\n`);

  const { logger } = captureLogger();
  const reports = await stopOrphans({ runtimeDir: dir, graceMs: 5000, logger });
  const actionOf = (pid: number): string | undefined => reports.find((r) => r.pid === pid)?.action;
  assert.equal(actionOf(owned), 'owner_alive');
  assert.ok(isAlive(owned), 'a Beyla whose agent runs is left alone');
  assert.match(await readFile(join(dir, 'beyla-1.pid'), 'utf8'), new RegExp(`^${owned}\\nowner ${process.pid} \\d+\\nstart \\d+\\n$`));
  assert.equal(actionOf(orphan), 'stopped');
  assert.equal(actionOf(reused), 'stopped');
  await waitFor('the orphans to be gone', () => !isAlive(orphan) && !isAlive(reused));
});
