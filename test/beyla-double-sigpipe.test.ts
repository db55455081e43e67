// The Beyla double dies of SIGPIPE at a log line nobody can read, as Go's runtime makes Beyla do; a FIFO it holds a read end of keeps it alive and loses no line.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { pickFreePorts } from '../src/beyla/pick-free-ports.js';
import { beylaDoublePath } from './beyla-double/beyla-double-path.js';
import { isAlive, waitUntil } from './support/daemon-harness.js';

const BURST_LINES = 1000; // about 200 bytes each: three times a pipe's 64 KiB buffer

interface Setup { dir: string; config: string; trigger: string }

async function setup(t: TestContext): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'beyla-sigpipe-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [metrics, health, internal] = await pickFreePorts(3);
  const config = join(dir, 'beyla.yaml');
  await writeFile(config, [
    'discovery: { instrument: [{ open_ports: "3000" }] }',
    `prometheus_export: { port: ${metrics}, path: /metrics }`, `health_check: { port: ${health} }`,
    `internal_metrics: { exporter: prometheus, prometheus: { port: ${internal}, path: /internal/metrics } }`, '',
  ].join('\n'));
  return { dir, config, trigger: join(dir, 'burst') };
}

function startDouble(t: TestContext, s: Setup, stdio: Array<'ignore' | 'pipe' | number>): { child: ChildProcess; exit: Promise<[number | null, NodeJS.Signals | null]> } {
  const child = spawn(beylaDoublePath(), ['-config', s.config], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', FAKE_BEYLA_FAULT: `log-burst-on=${s.trigger}:${BURST_LINES}`, FAKE_BEYLA_EXIT_WITH_PID: String(process.pid) },
    stdio: stdio as never,
  });
  const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exit;
  });
  return { child, exit };
}

test('a log line to a stdout whose reader is gone kills the double by SIGPIPE, as Go kills Beyla', async (t) => {
  const s = await setup(t);
  const { child, exit } = startDouble(t, s, ['ignore', 'pipe', 'pipe']);
  let seen = '';
  await new Promise<void>((resolveStarted) => child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    seen += chunk;
    if (seen.includes('Starting main node')) resolveStarted();
  }));
  child.stdout?.destroy(); // the reader dies, as the agent holding the pipe would
  child.stderr?.destroy();
  await writeFile(s.trigger, '');
  const [code, signal] = await exit;
  assert.deepEqual({ code, signal }, { code: null, signal: 'SIGPIPE' });
});

test('with a FIFO as stdout that it holds open read-write, a burst past 64 KiB with no reader neither kills it nor loses a line', async (t) => {
  const s = await setup(t);
  const fifo = join(s.dir, 'out');
  execFileSync('mkfifo', ['-m', '0600', fifo]);
  const beylaEnd = openSync(fifo, constants.O_RDWR);
  const { child } = startDouble(t, s, ['ignore', beylaEnd, 'ignore']);
  closeSync(beylaEnd); // only the double holds the FIFO now, and nothing reads it
  await writeFile(s.trigger, '');
  await waitUntil('the double to have written its burst', () => !existsSync(s.trigger), 20_000);
  assert.ok(child.pid && isAlive(child.pid), 'the double is alive after writing with no reader');
  // A reader that comes later (the next agent) gets every line.
  const reader = new Socket({ fd: openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false });
  t.after(() => reader.destroy());
  let text = '';
  await new Promise<void>((resolveAll) => reader.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
    if (text.includes(`n=${BURST_LINES} of=${BURST_LINES}`)) resolveAll();
  }));
  const burst = text.split('\n').filter((line) => line.includes('msg="beyla-double log burst"'));
  assert.equal(burst.length, BURST_LINES);
  assert.ok(Buffer.byteLength(burst.join('\n')) > 64 * 1024, 'the burst is more than a pipe buffer');
  assert.ok(isAlive(child.pid), 'still alive once read');
});
