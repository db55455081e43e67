// After an ordered shutdown the agent exits by itself: nothing it opened holds the event loop (with Beyla running, and disabled).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { createDaemonHarness, type DaemonHarness } from './support/daemon-harness.js';

async function listener(t: { after(fn: () => Promise<void>): void }): Promise<number> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

async function stopAndCheck(h: DaemonHarness): Promise<void> {
  await h.stop();
  const forced = h.logs.filter((r) => r.msg === 'exiting with handles still open after the shutdown');
  assert.deepEqual(forced.map((r) => r.resources), [], 'the process had to be made to exit: a handle held the event loop');
  assert.equal(h.logs.at(-1)?.msg, 'stopped', 'nothing logged after "stopped"');
}

test('with Beyla and health checks running, the agent exits on its own after "stopped"', async (t) => {
  const port = await listener(t);
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': `name: web\nport: ${port}\nhealth: { check: tcp, interval: 1s, timeout: 500ms }\n` } });
  await h.start();
  await h.waitForLivePorts(String(port));
  await stopAndCheck(h);
});

test('with Beyla disabled, the agent exits on its own after "stopped"', async (t) => {
  const port = await listener(t);
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': `name: web\nport: ${port}\nhealth: { check: tcp, interval: 1s, timeout: 500ms }\n` } });
  await writeFile(h.configPath, (await readFile(h.configPath, 'utf8')).replace('  beyla:\n', '  beyla:\n    enabled: false\n'));
  const ready = await h.start();
  assert.match(ready.msg, /1 services?, 1 ports?; beyla disabled/);
  await stopAndCheck(h);
});
