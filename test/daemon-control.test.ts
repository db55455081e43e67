// The real daemon process driven from outside: SIGHUP, restart, the reload API, sd_notify and the stable metrics address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDaemonHarness, dropIn, waitUntil } from './support/daemon-harness.js';

/** CLOCK_MONOTONIC now, in µs (what systemd wants in MONOTONIC_USEC). */
const monotonicUsec = (): bigint => process.hrtime.bigint() / 1000n;

test('SIGHUP applies a pending change at once instead of after the debounce', async (t) => {
  const h = await createDaemonHarness(t, { debounce: '60s', maxWait: '120s', dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  await h.waitForLivePorts('3000');

  await h.writeDropIn('api.yaml', dropIn('api', 8080));
  // The daemon has seen the change and holds it for the 60 s debounce.
  await waitUntil('status.pending after writing api.yaml', async () => (await h.status()).pending === true, 10_000);
  assert.equal((await h.status()).applied.ports, '3000');

  const from = h.mark();
  h.signal('SIGHUP');
  // Well inside the 60 s debounce: only the SIGHUP can have applied it.
  await h.waitForLivePorts('3000,8080', 10_000);
  const applied = await h.waitForReconcile('reload applied', { fromIndex: from, match: (r) => r.result === 'swapped' });
  assert.match(applied.reason as string, /(^|, )reload$/, 'the SIGHUP reload ran it (merged with the pending file event)');
  const status = await h.status();
  assert.equal(status.applied.ports, '3000,8080');
  assert.equal(status.pending, false);
  await h.stop();
});

test('a restarted agent brings back the same ports from the files', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000), 'api.yaml': dropIn('api', 8080) } });
  await h.start();
  await h.waitForLivePorts('3000,8080');
  await h.writeDropIn('db.yaml', dropIn('db', 5432));
  await h.waitForLivePorts('3000,5432,8080');
  await h.stop();
  assert.deepEqual(await h.liveInstances(), [], 'no Beyla may outlive the agent');

  await h.start();
  const instance = await h.waitForLivePorts('3000,5432,8080');
  const status = await h.status();
  assert.equal(status.state, 'ready');
  assert.equal(status.desired.ports, '3000,5432,8080');
  assert.equal(status.applied.ports, '3000,5432,8080');
  assert.deepEqual(status.desired.services.map((s: { name: string }) => s.name).sort(), ['api', 'db', 'web']);
  assert.equal(status.beyla.instances[0]?.pid, instance?.pid);
  await h.stop();
});

test('sd_notify: STATUS while starting, READY=1 after the first apply, WATCHDOG=1, RELOADING=1/READY=1 around a reload, STOPPING=1', async (t) => {
  // slow-start: the double's endpoints come up 1 s after it starts, so an early READY=1 would show.
  const h = await createDaemonHarness(t, {
    notify: true,
    env: { WATCHDOG_USEC: '400000', FAKE_BEYLA_FAULT: 'slow-start=1' },
    dropIns: { 'web.yaml': dropIn('web', 3000) },
  });
  const notify = h.notify!;
  await h.start();
  const ready = await notify.waitFor('READY=1', (m) => m.fields.READY === '1');
  const beforeReady = notify.messages.slice(0, ready.index);
  assert.ok(beforeReady.some((m) => m.fields.STATUS?.startsWith('starting')), `no STATUS=starting... before READY=1: ${JSON.stringify(notify.messages.map((m) => m.text))}`);
  assert.ok(beforeReady.every((m) => m.fields.WATCHDOG === undefined && m.fields.READY === undefined));
  // READY=1 comes only when the first Beyla runs with the ports and answers its health endpoint.
  const live = await h.waitForLivePorts('3000');
  const state = JSON.parse(await readFile(join(h.stateDir, `${live!.pid}.json`), 'utf8')) as { ports: { health: number } };
  const healthz = await fetch(`http://127.0.0.1:${state.ports.health}/healthz`);
  assert.equal(healthz.status, 200);
  assert.match(ready.fields.STATUS ?? '', new RegExp(`^gen 1: 1 service, 1 port; beyla ready \\(pid ${live!.pid}\\)`));

  // WATCHDOG_USEC=400000: pings every 200 ms.
  const firstPing = await notify.waitFor('WATCHDOG=1', (m) => m.fields.WATCHDOG === '1', { fromIndex: ready.index });
  await notify.waitFor('a second WATCHDOG=1', (m) => m.fields.WATCHDOG === '1', { fromIndex: firstPing.index + 1 });

  const before = monotonicUsec();
  const reload = await h.reload();
  assert.equal(reload.status, 200, JSON.stringify(reload.body));
  const reloading = await notify.waitFor('RELOADING=1', (m) => m.fields.RELOADING === '1', { fromIndex: ready.index });
  assert.ok(reloading.fields.MONOTONIC_USEC, `RELOADING=1 without MONOTONIC_USEC in the same datagram: ${JSON.stringify(reloading.text)}`);
  const stamp = BigInt(reloading.fields.MONOTONIC_USEC);
  assert.ok(stamp >= before && stamp <= monotonicUsec(), `MONOTONIC_USEC=${stamp} is not CLOCK_MONOTONIC of the reload (${before}..)`);
  await notify.waitFor('READY=1 after the reload', (m) => m.fields.READY === '1', { fromIndex: reloading.index + 1 });

  await h.stop();
  const stopping = await notify.waitFor('STOPPING=1', (m) => m.fields.STOPPING === '1', { fromIndex: reloading.index + 1 });
  assert.ok(notify.messages.slice(stopping.index + 1).every((m) => m.fields.READY === undefined), 'READY=1 after STOPPING=1');
});

test('POST /v1/reload applies a change now (200), and answers 422 for a broken coral.yaml while the old ports stay live', async (t) => {
  const h = await createDaemonHarness(t, { debounce: '60s', maxWait: '120s', dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  await h.waitForLivePorts('3000');

  await h.writeDropIn('api.yaml', dropIn('api', 8080));
  const good = await h.reload();
  assert.equal(good.status, 200, JSON.stringify(good.body));
  assert.equal(good.body.ok, true);
  assert.equal(good.body.generation, 2);
  assert.equal(good.body.result, 'swapped');
  assert.match(good.body.message, /^ports \+8080 \(api\.yaml added\); Beyla generation 1 -> 2/);
  const running = await h.waitForLivePorts('3000,8080');
  assert.match(await h.scrape(), /^coral_agent_main_config_rejected 0$/m);
  assert.match(await h.scrape(), /^coral_agent_beyla_state\{state="ready"\} 1$/m);

  const text = await readFile(h.configPath, 'utf8');
  await writeFile(h.configPath, text.replace('  beyla:\n', '  beyla:\n    debounce: [oops\n'));
  const bad = await h.reload();
  assert.equal(bad.status, 422, JSON.stringify(bad.body));
  assert.equal(bad.body.ok, false);
  assert.ok(bad.body.errors.length > 0);
  const first = bad.body.errors[0] as { file: string; line: number; col: number; message: string };
  assert.equal(first.file, h.configPath);
  assert.ok(first.line > 0, `error without a line: ${JSON.stringify(first)}`);
  assert.match(await h.scrape(), /^coral_agent_main_config_rejected 1$/m, 'the last good coral.yaml serves: the metric says so');

  const status = await h.status();
  assert.equal(status.state, 'ready');
  assert.equal(status.applied.ports, '3000,8080');
  assert.equal(status.beyla.generation, 2);
  const still = await h.waitForLivePorts('3000,8080');
  assert.equal(still?.pid, running?.pid, 'a broken coral.yaml must not restart Beyla');
  await h.stop();
});

test('the stable metrics address serves coral_agent_* and the active Beyla double series, across a swap', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  assert.ok(h.metrics && h.metrics.port > 0, `ready line without a metrics address: ${JSON.stringify(h.metrics)}`);
  const first = await h.waitForLivePorts('3000');
  const before = await h.scrape();
  assert.match(before, /^coral_agent_\w+/m);
  assert.match(before, new RegExp(`^beyla_double_info\\{open_ports="3000",pid="${first!.pid}"\\} 1$`, 'm'));

  await h.writeDropIn('api.yaml', dropIn('api', 8080));
  const second = await h.waitForLivePorts('3000,8080');
  const after = await h.scrape();
  assert.match(after, new RegExp(`^beyla_double_info\\{open_ports="3000,8080",pid="${second!.pid}"\\} 1$`, 'm'));
  assert.doesNotMatch(after, new RegExp(`pid="${first!.pid}"`), 'the old instance is gone from the stable address');
  assert.match(after, /^coral_agent_\w+/m);
  await h.stop();
});

// Signals during start-up: the handlers are installed before start-up, so a SIGTERM stops the
// agent cleanly and a SIGHUP is applied once it is ready (they used to kill it).

test('SIGTERM while the first Beyla is still starting: the agent exits 0 and leaves no Beyla behind', async (t) => {
  // slow-start=5: the first instance cannot be ready for 5 s, so the signal surely lands during start-up.
  const h = await createDaemonHarness(t, { env: { FAKE_BEYLA_FAULT: 'slow-start=5' }, dropIns: { 'web.yaml': dropIn('web', 3000) } });
  const from = h.launch();
  await h.waitForLog('Beyla candidate spawned', (r) => r.msg === 'Beyla candidate spawned', { fromIndex: from });
  const [starting] = await waitUntil('the starting double', async () => {
    const live = await h.liveInstances();
    return live.length === 1 ? live : false;
  });
  assert.ok(!h.logs.some((r) => r.msg.startsWith('coral-agent ready')), 'the agent was already ready: the test proves nothing');

  h.signal('SIGTERM');
  const exit = await h.waitForExit();
  const leftover = await h.leftoverBeyla();
  assert.deepEqual({ exit, leftover }, { exit: { code: 0, signal: null }, leftover: [] },
    `SIGTERM during start-up must be an orderly stop that also ends Beyla (pid ${starting!.pid})`);
});

test('SIGHUP while the first Beyla is still starting does not kill the agent; it becomes ready with the ports', async (t) => {
  const h = await createDaemonHarness(t, { env: { FAKE_BEYLA_FAULT: 'slow-start=2' }, dropIns: { 'web.yaml': dropIn('web', 3000) } });
  const from = h.launch();
  await h.waitForLog('Beyla candidate spawned', (r) => r.msg === 'Beyla candidate spawned', { fromIndex: from });
  assert.ok(!h.logs.some((r) => r.msg.startsWith('coral-agent ready')), 'the agent was already ready: the test proves nothing');
  h.signal('SIGHUP');
  await h.waitForLog('coral-agent ready', (r) => r.msg.startsWith('coral-agent ready'), { fromIndex: from });
  await h.waitForLivePorts('3000');
  await h.stop();
});
