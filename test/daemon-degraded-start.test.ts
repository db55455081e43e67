// A start with an invalid coral.yaml runs on the last good configuration kept in $STATE_DIRECTORY, degraded and loud; --strict or nothing saved refuses (65).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LAST_GOOD_FILE } from '../src/store/last-good-state.js';
import { coralAgentPath, createDaemonHarness, dropIn, waitUntil } from './support/daemon-harness.js';

test('invalid coral.yaml at start: degraded on the last good state (log, STATUS=, status, metric, check fails); --strict and no state refuse', async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'coral-state-'));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const h = await createDaemonHarness(t, { notify: true, env: { STATE_DIRECTORY: stateDir }, dropIns: { 'web.yaml': dropIn('web', 3000) } });
  const stateFile = join(stateDir, LAST_GOOD_FILE);
  await h.start();
  await h.waitForLivePorts('3000');
  await waitUntil('the last good state saved', async () => stat(stateFile).then((s) => s.isFile(), () => false));
  assert.equal((await stat(stateFile)).mode & 0o777, 0o600);
  await h.stop();

  const good = await readFile(h.configPath, 'utf8');
  const broken = good.replace('  beyla:\n', '  beyla:\n    debounse: 1s\n');
  await writeFile(h.configPath, broken);
  const line = broken.split('\n').indexOf('    debounse: 1s') + 1;
  const from = h.mark();
  const notifyFrom = h.notify!.messages.length;
  await h.start();
  await h.waitForLivePorts('3000');
  const logged = h.logs.slice(from).find((r) => r.degraded === true);
  assert.ok(logged, 'no DEGRADED log line');
  assert.equal(logged.level, 50, 'logged as an error');
  assert.equal(logged.file, h.configPath);
  assert.equal(logged.line, line);
  assert.match(logged.msg, new RegExp(`^DEGRADED: .*coral\\.yaml:${line}:5: .*debounse.*; running on the last good configuration saved at `));
  const status = await h.status();
  assert.equal(status.state, 'degraded');
  assert.match(status.degraded.reason, new RegExp(`coral\\.yaml:${line}:5: `));
  assert.equal(status.applied.ports, '3000');
  const ready = await h.notify!.waitFor('READY=1 with a DEGRADED status', (m) => m.fields.READY === '1', { fromIndex: notifyFrom });
  assert.match(ready.fields.STATUS ?? '', new RegExp(`^DEGRADED \\(.*coral\\.yaml:${line}:5: `));
  assert.match(await h.scrape(), /^coral_agent_degraded 1$/m);
  const shown = spawnSync(process.execPath, [coralAgentPath().replace(/coral-agent\.js$/, 'coral.js'), 'status', '--config', h.configPath, '--control-socket', h.socketPath], { encoding: 'utf8' });
  assert.match(shown.stdout, /^ {2}DEGRADED: .*coral\.yaml:\d+:5: .*systemctl reload coral-agent$/m, shown.stdout + shown.stderr);
  const check = spawnSync(process.execPath, [coralAgentPath(), 'check', '--config', h.configPath], { encoding: 'utf8' });
  assert.equal(check.status, 65, 'coral-agent check still fails');

  // Fixed: the reload ends the degraded mode.
  await writeFile(h.configPath, good);
  const reload = await h.reload();
  assert.equal(reload.status, 200, JSON.stringify(reload.body));
  await waitUntil('degraded over', async () => (await h.status()).state === 'ready');
  assert.match(await h.scrape(), /^coral_agent_degraded 0$/m);
  await h.stop();

  await writeFile(h.configPath, broken);
  h.launch(['--strict']);
  assert.deepEqual(await h.waitForExit(), { code: 65, signal: null }, '--strict refuses');
  await rm(stateFile);
  h.launch();
  assert.deepEqual(await h.waitForExit(), { code: 65, signal: null }, 'no last good state: refused as before');
});
