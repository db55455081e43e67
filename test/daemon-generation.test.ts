// One generation everywhere (status, applied, Beyla, coral status) across a swap and a crash restart, and --wait progress that names the real phase.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coralAgentPath, createDaemonHarness, dropIn, waitUntil, type DaemonHarness } from './support/daemon-harness.js';
import { freePort } from './support/free-port.js';
import { runNode, type NodeRun } from './support/run-node.js';

const coralPath = (): string => coralAgentPath().replace(/coral-agent\.js$/, 'coral.js');

function coral(h: DaemonHarness, args: string[]): Promise<NodeRun> {
  return runNode(coralPath(), [...args, '--config', h.configPath]);
}

test('--wait names the debounce and the generation being started; status has one generation, also after a crash restart', async (t) => {
  // slow-start: each double answers only after 1 s, so the swap phase lasts long enough to be polled.
  const h = await createDaemonHarness(t, { debounce: '3s', maxWait: '10s', env: { FAKE_BEYLA_FAULT: 'slow-start=1' }, dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  await h.waitForLivePorts('3000');
  // api's port is one the OS just had free: the message below says that nothing listens on it.
  const api = await freePort();
  const applied = [3000, api].sort((a, b) => a - b).join(',');
  assert.equal((await h.status()).generation, 1);

  const connect = await coral(h, ['connect', `api:${api}:none`, '--wait', '--timeout', '60s']);
  assert.equal(connect.code, 0, connect.stderr);
  const progress = connect.stderr.split('\n').filter(Boolean);
  assert.ok(progress.some((l) => /^coral-agent saw the change; debounce ends in [1-3]s \.\.\. \(\d+s\)$/.test(l)), `no debounce progress in:\n${connect.stderr}`);
  assert.ok(progress.some((l) => new RegExp(`^swap to Beyla generation 2 with port ${api}: waiting for it to be ready \\.\\.\\. \\(\\d+s\\)$`).test(l)), `no swap progress in:\n${connect.stderr}`);
  assert.ok(!progress.some((l) => /generation 0|waiting for coral-agent to read/.test(l)), connect.stderr);
  assert.match(connect.stdout, new RegExp(`^Selected: port ${api} in Beyla generation 2 \\(after [\\d.]+s\\); no process listens on ${api} yet`, 'm'));

  // The agent wrote api.yaml itself; its own watch event may still be in a (no-change) reconcile
  // when --wait returns, so the phase is awaited rather than sampled once.
  const swapped = await waitUntil('the agent to be idle after the swap', async () => {
    const s = await h.status();
    return s.phase?.name === 'idle' ? s : false;
  }, 30_000);
  assert.deepEqual([swapped.generation, swapped.applied.generation, swapped.beyla.generation], [2, 2, 2]);
  assert.deepEqual(swapped.phase, { name: 'idle' });

  // A crash restart starts generation 3 with the same configuration: every generation follows.
  const [active] = await h.liveInstances();
  process.kill(active!.pid, 'SIGKILL');
  const restarted = await waitUntil('the restarted Beyla', async () => {
    const s = await h.status();
    return s.beyla.generation === 3 && s.beyla.state === 'ready' ? s : false;
  }, 30_000);
  assert.deepEqual([restarted.generation, restarted.applied.generation, restarted.beyla.generation], [3, 3, 3]);
  const shown = await coral(h, ['status']);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^coral-agent: ready, generation 3, /m);
  assert.match(shown.stdout, new RegExp(`^ {2}applied: ports ${applied}, generation 3`, 'm'));
  assert.match(shown.stdout, /^ {2}now: idle$/m);
  await h.stop();
});
