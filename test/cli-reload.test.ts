// `coral-agent reload` against the real daemon: 0 applied, 65 only for an invalid file, 75 when a valid configuration's new Beyla fails.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { coralAgentPath, createDaemonHarness, dropIn, type DaemonHarness } from './support/daemon-harness.js';
import { runNode, type NodeRun } from './support/run-node.js';

function runReload(h: DaemonHarness): Promise<NodeRun> {
  return runNode(coralAgentPath(), ['reload', '--config', h.configPath, '--control-socket', h.socketPath, '--timeout', '60s']);
}

test('reload: 0 when applied, 75 when the new Beyla fails on a valid configuration, 65 only when a file is invalid', async (t) => {
  const faultFile = join(tmpdir(), `coral-reload-fault-${process.pid}`);
  t.after(() => rm(faultFile, { force: true }));
  const h = await createDaemonHarness(t, { debounce: '60s', maxWait: '120s', env: { FAKE_BEYLA_FAULT_FILE: faultFile }, dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  const first = await h.waitForLivePorts('3000');

  await h.writeDropIn('api.yaml', dropIn('api', 8080));
  const applied = await runReload(h);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /^reloaded: ports \+8080 \(api\.yaml added\); Beyla generation 1 -> 2/);
  const second = await h.waitForLivePorts('3000,8080');
  assert.notEqual(second?.pid, first?.pid);

  // The next Beyla to start exits at once: the configuration is valid, applying it failed.
  await writeFile(faultFile, 'exit-at-start=3');
  await h.writeDropIn('db.yaml', dropIn('db', 5432));
  const failed = await runReload(h);
  assert.equal(failed.code, 75, `a Beyla that failed to start is not an invalid configuration:\n${failed.stderr}`);
  assert.match(failed.stderr, /^reload failed: .*new Beyla failed, generation 2 keeps running/m);
  assert.doesNotMatch(failed.stderr, /rejected|invalid/);
  assert.equal((await h.waitForLivePorts('3000,8080'))?.pid, second?.pid, 'the old Beyla keeps running');

  const text = await readFile(h.configPath, 'utf8');
  await writeFile(h.configPath, text.replace('  beyla:\n', '  beyla:\n    debounce: [oops\n'));
  const invalid = await runReload(h);
  assert.equal(invalid.code, 65, invalid.stderr);
  assert.match(invalid.stderr, new RegExp(`^${h.configPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: error: `, 'm'));
  assert.match(invalid.stderr, /^reload rejected: /m);
  await h.stop();
});
