// `coral status --watch` against the running daemon: redrawn in place on a real pseudo-terminal (q and Ctrl-C end it), and plain changed frames on a pipe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDaemonHarness, dropIn, waitUntil } from './support/daemon-harness.js';
import { reap } from './support/reap.js';

const CLI = fileURLToPath(new URL('../src/cli/coral.js', import.meta.url));
const PTY_RUN = ['./support/pty-run.py', '../../test/support/pty-run.py']
  .map((p) => fileURLToPath(new URL(p, import.meta.url))).find((p) => existsSync(p))!;
const ESC = '\x1b';

interface Run { child: ChildProcess; output: () => string; exit: Promise<number | null> }

/** waitUntil, with what the command printed when it times out. */
const waitOutput = (r: Run, what: string, check: () => boolean, ms?: number): Promise<true> =>
  waitUntil(what, () => check() || false, ms).catch((error: Error) => {
    throw new Error(`${error.message}; output:\n${JSON.stringify(r.output().slice(-1500))}`);
  });

function run(command: string, args: string[]): Run {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_TEST_CONTEXT: undefined } });
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => text, exit };
}

/** Resolves with the exit code; SIGKILLs the process and fails at the deadline. */
async function exitWithin(r: Run, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([r.exit, new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), ms); })]);
  clearTimeout(timer);
  if (outcome === 'late') {
    r.child.kill('SIGKILL');
    await r.exit;
    assert.fail(`still running ${ms} ms after being asked to stop; output:\n${JSON.stringify(r.output().slice(-2000))}`);
  }
  return outcome;
}

/** The frames a terminal run drew: the text after each cursor-home, with the clear-line/-screen codes removed. */
const framesOf = (text: string): string[] => text.split(`${ESC}[H`).slice(1).map((f) => f.replace(/\x1b\[K/g, '').replace(/\x1b\[J.*$/s, ''));

test('on a terminal, --watch redraws the status in place through a swap, never clears between frames, fits the width, and q ends it', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  await h.waitForLivePorts('3000');
  const r = run('python3', [PTY_RUN, '24', '60', process.execPath, CLI, 'status', '--watch', '--interval', '0.2', '--config', h.configPath]);
  t.after(() => reap(r.child));
  await waitOutput(r, 'a first frame with generation 1', () => framesOf(r.output()).some((f) => /Beyla: ready, generation 1/.test(f)));

  await h.writeDropIn('api.yaml', dropIn('api', 8080));
  await waitOutput(r, 'a frame with generation 2', () => framesOf(r.output()).some((f) => /Beyla: ready, generation 2/.test(f)), 20_000);
  r.child.stdin!.write('q');
  assert.equal(await exitWithin(r, 5000), 0);

  const out = r.output();
  assert.ok(out.startsWith(`${ESC}[?1049h${ESC}[?25l`), 'switches to the alternate screen and hides the cursor first');
  assert.equal(out.split(`${ESC}[2J`).length - 1, 1, 'the screen is cleared once, at the start: frames overwrite in place (no flicker)');
  assert.ok(out.endsWith(`${ESC}[?25h${ESC}[?1049l`), 'gives the cursor and the normal screen back');
  const frames = framesOf(out);
  assert.ok(frames.length >= 3);
  for (const frame of frames) {
    const lines = frame.replace(/\x1b\[\?25h\x1b\[\?1049l$/, '').split(/\r?\n/);
    assert.ok(lines.length <= 24, `a frame of ${lines.length} lines on a 24-line terminal`);
    for (const line of lines) assert.ok(line.length <= 60, `a line wider than the 60 columns: ${JSON.stringify(line)}`);
    assert.match(lines[0]!, /^Every 0\.2s: coral status/);
  }
  await h.stop();
});

test('on a terminal, an agent that is not running is shown and Ctrl-C ends the watch with 0', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coral-watch-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'coral.yaml'), `agent:\n  control:\n    socket: ${join(dir, 'ctl.sock')}\n`);
  const r = run('python3', [PTY_RUN, '24', '80', process.execPath, CLI, 'status', '-w', '-n', '0.2', '--config', join(dir, 'coral.yaml')]);
  t.after(() => reap(r.child));
  await waitOutput(r, 'a frame saying the agent is not running', () => framesOf(r.output()).some((f) => /coral status: .*not running/i.test(f)));
  r.child.stdin!.write('\x03');
  assert.equal(await exitWithin(r, 5000), 0);
});

test('on a pipe, --watch prints plain frames, each only when the status changed, and ends on SIGINT with 0', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  await h.waitForLivePorts('3000');
  const r = run(process.execPath, [CLI, 'status', '--watch', '--interval', '0.1', '--config', h.configPath]);
  t.after(() => reap(r.child));
  const frames = (): string[] => r.output().split(/^--- \d{4}-\d\d-\d\dT[\d:.]+Z\n/m).slice(1);
  await waitOutput(r, 'a first frame', () => frames().some((f) => /Beyla: ready, generation 1/.test(f)));
  await h.writeDropIn('api.yaml', dropIn('api', 8080));
  await waitOutput(r, 'a frame with generation 2', () => frames().some((f) => /Beyla: ready, generation 2/.test(f)), 20_000);
  r.child.kill('SIGINT');
  assert.equal(await exitWithin(r, 5000), 0);
  assert.doesNotMatch(r.output(), /\x1b/, 'no terminal codes on a pipe');
  const all = frames();
  for (let i = 1; i < all.length; i += 1) assert.notEqual(all[i], all[i - 1], 'an unchanged status is not printed again');
  assert.ok(all.length >= 2);
  await h.stop();
});

test('--interval is checked: a number of seconds, at least 0.1, with --watch only', async () => {
  for (const args of [['--watch', '--interval', 'soon'], ['--watch', '-n', '0.01'], ['--interval', '2']]) {
    const r = run(process.execPath, [CLI, 'status', ...args, '--config', '/nonexistent/coral.yaml']);
    assert.equal(await exitWithin(r, 10_000), 64, `${args.join(' ')}: ${r.output()}`);
    assert.match(r.output(), /--interval/);
  }
});
