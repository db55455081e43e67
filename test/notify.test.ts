// sd_notify tests against a real datagram socket: what systemd would receive, from whom, and when.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../src/log.js';
import { createNotifier, monotonicUsec } from '../src/systemd/notifier.js';
import { NotifySocket } from './support/notify-socket.js';
import { captureLogger } from './support/capture-logger.js';

const DEADLINE_MS = 5000;

interface TestContext {
  after: (fn: () => Promise<void> | void) => void;
}

/** A capture socket in a fresh temp dir; the real process environment points at it (libsystemd reads that). */
async function capture(t: TestContext, opts: { setProcessEnv?: boolean } = {}): Promise<NotifySocket> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coral-notify-'));
  const socket = await NotifySocket.start(path.join(dir, 'notify.sock'));
  const previous = process.env.NOTIFY_SOCKET;
  if (opts.setProcessEnv ?? true) process.env.NOTIFY_SOCKET = socket.path;
  t.after(async () => {
    if (previous === undefined) delete process.env.NOTIFY_SOCKET;
    else process.env.NOTIFY_SOCKET = previous;
    await socket.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
  return socket;
}

const silent = createLogger({ level: 'silent', env: {} });

test('ready() sends READY=1 and STATUS= from this process', async (t) => {
  const socket = await capture(t);
  const notifier = createNotifier({ env: { NOTIFY_SOCKET: socket.path }, logger: silent });
  assert.equal(notifier.enabled, true);
  notifier.ready('serving 3 services');
  const d = await socket.next((x) => x.fields.READY === '1');
  assert.equal(d.fields.STATUS, 'serving 3 services');
  assert.equal(d.pid, process.pid, 'the sender is the main pid, as NotifyAccess=main requires');
});

test('reloading() carries MONOTONIC_USEC on the same clock systemd uses', async (t) => {
  const socket = await capture(t);
  const notifier = createNotifier({ env: { NOTIFY_SOCKET: socket.path }, logger: silent });
  const before = monotonicUsec();
  notifier.reloading();
  const d = await socket.next((x) => x.fields.RELOADING === '1');
  const sent = BigInt(d.fields.MONOTONIC_USEC ?? '-1');
  // Bracketed by our clock before the call and the receiver's CLOCK_MONOTONIC at receipt.
  assert.ok(sent >= before, `MONOTONIC_USEC ${sent} is not before the call (${before})`);
  assert.ok(sent <= d.monoUsec, `MONOTONIC_USEC ${sent} is later than the receiver's CLOCK_MONOTONIC ${d.monoUsec}`);
  notifier.readyAfterReload('reloaded');
  const ready = await socket.next((x) => x.fields.READY === '1');
  assert.equal(ready.fields.STATUS, 'reloaded');
});

test('status(), stopping() and extendTimeout() send their fields; a newline cannot forge READY=1', async (t) => {
  const socket = await capture(t);
  const notifier = createNotifier({ env: { NOTIFY_SOCKET: socket.path }, logger: silent });
  notifier.status('degraded: web.yaml invalid\nREADY=1');
  const status = await socket.next((x) => x.fields.STATUS !== undefined);
  assert.deepEqual(status.fields, { STATUS: 'degraded: web.yaml invalid READY=1' });
  notifier.extendTimeout(1500);
  assert.equal((await socket.next((x) => x.fields.EXTEND_TIMEOUT_USEC !== undefined)).fields.EXTEND_TIMEOUT_USEC, '1500000');
  notifier.stopping();
  assert.deepEqual((await socket.next((x) => x.fields.STOPPING === '1')).fields, { STOPPING: '1' });
});

test('watchdog pings arrive every WATCHDOG_USEC/2 and stop when the signal aborts', async (t) => {
  const socket = await capture(t);
  const notifier = createNotifier({ env: { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '200000' }, logger: silent });
  assert.equal(notifier.watchdogEnabled, true);
  assert.equal(notifier.watchdogIntervalMs, 100);
  const controller = new AbortController();
  t.after(() => controller.abort());
  notifier.startWatchdog(controller.signal);
  for (let i = 0; i < 3; i++) await socket.next((x) => x.fields.WATCHDOG === '1');
  // Bracket the abort with two markers. One sender's datagrams keep their order, timers fire in
  // due order, and the second marker is due three intervals later: a ping that survived the
  // abort would land between the markers.
  notifier.status('aborting');
  controller.abort();
  setTimeout(() => notifier.status('marker'), 3 * notifier.watchdogIntervalMs);
  const aborting = await socket.next((x) => x.fields.STATUS === 'aborting');
  const marker = await socket.next((x) => x.fields.STATUS === 'marker');
  assert.deepEqual(socket.datagrams.slice(aborting.index + 1, marker.index).map((d) => d.text), []);
});

test('WATCHDOG_PID naming another process disables the watchdog', async (t) => {
  const socket = await capture(t);
  const notifier = createNotifier({
    env: { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid + 1) },
    logger: silent,
  });
  assert.equal(notifier.watchdogEnabled, false);
  const controller = new AbortController();
  t.after(() => controller.abort());
  notifier.startWatchdog(controller.signal);
  notifier.status('marker');
  await socket.next((x) => x.fields.STATUS === 'marker');
  assert.deepEqual(socket.datagrams.map((d) => d.text), ['STATUS=marker']);
});

test('without NOTIFY_SOCKET nothing is sent and nothing throws', async (t) => {
  // The process environment still points at a live socket: only the env given to the notifier counts.
  const socket = await capture(t);
  const off = createNotifier({ env: { WATCHDOG_USEC: '200000' }, logger: silent });
  assert.equal(off.enabled, false);
  assert.equal(off.watchdogEnabled, false);
  const controller = new AbortController();
  t.after(() => controller.abort());
  off.ready('x');
  off.reloading();
  off.readyAfterReload('y');
  off.status('z');
  off.extendTimeout(10);
  off.startWatchdog(controller.signal);
  off.stopping();
  await off.flush();
  const on = createNotifier({ env: { NOTIFY_SOCKET: socket.path }, logger: silent });
  on.status('marker');
  await socket.next((x) => x.fields.STATUS === 'marker');
  assert.deepEqual(socket.datagrams.map((d) => d.text), ['STATUS=marker']);
});

test('the systemd-notify fallback delivers in order, naming this process as the sender', async (t) => {
  const socket = await capture(t, { setProcessEnv: false });
  const log = captureLogger();
  const notifier = createNotifier({ env: { NOTIFY_SOCKET: socket.path, PATH: process.env.PATH }, logger: log.logger, prefer: 'systemd-notify' });
  if (!notifier.enabled) {
    t.skip('systemd-notify is not installed');
    return;
  }
  assert.ok(log.lines.some((l) => l.level === 40 && l.msg === 'sending systemd notifications with systemd-notify'));
  notifier.reloading();
  notifier.readyAfterReload('reloaded');
  await notifier.flush();
  const reloading = await socket.next((x) => x.fields.RELOADING === '1');
  const ready = await socket.next((x) => x.fields.READY === '1');
  assert.ok(ready.index > reloading.index);
  assert.equal(ready.fields.STATUS, 'reloaded');
  // --pid works for root (CAP_SYS_ADMIN); otherwise libsystemd sends as the helper itself.
  if (process.getuid?.() === 0) assert.equal(ready.pid, process.pid);
});

test('a separate daemon process notifies as itself: ready, watchdog, stopping on SIGTERM', async (t) => {
  const socket = await capture(t, { setProcessEnv: false });
  const moduleUrl = new URL('../src/systemd/notifier.js', import.meta.url).href;
  const script = `
    import { createNotifier } from ${JSON.stringify(moduleUrl)};
    import { pino } from 'pino';
    const controller = new AbortController();
    const notifier = createNotifier({ logger: pino({ level: 'silent' }) });
    process.once('SIGTERM', () => {
      notifier.stopping('bye');
      controller.abort();
    });
    notifier.ready('child up');
    notifier.startWatchdog(controller.signal);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: process.cwd(),
    env: { ...process.env, NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '100000' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const ready = await socket.next((x) => x.fields.READY === '1');
  assert.equal(ready.pid, child.pid);
  assert.equal(ready.fields.STATUS, 'child up');
  const firstPing = await socket.next((x) => x.fields.WATCHDOG === '1');
  const secondPing = await socket.next((x) => x.fields.WATCHDOG === '1');
  assert.equal(firstPing.pid, child.pid);
  assert.equal(secondPing.pid, child.pid);
  child.kill('SIGTERM');
  const stopping = await socket.next((x) => x.fields.STOPPING === '1');
  assert.equal(stopping.pid, child.pid);
  assert.equal(stopping.fields.STATUS, 'bye');
  // The watchdog interval is the child's only timer: it exits on its own once the abort cleared it.
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise<string>((r) => { timer = setTimeout(() => r('still running'), DEADLINE_MS); })]);
  clearTimeout(timer);
  assert.equal(code, 0);
});
