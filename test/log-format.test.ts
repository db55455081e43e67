// The agent's log: human lines with `<priority>` under journald (stdout = JOURNAL_STREAM's socket), JSON on a pipe or when CORAL_LOG_FORMAT=json.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fstatSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatLogText } from '../src/log-format.js';
import { chooseLogFormat, createLogger } from '../src/log.js';
import { within } from './support/within.js';

const LOG_MODULE = fileURLToPath(new URL('../src/log.js', import.meta.url));

function collect(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  return { stream: new Writable({ write(c: Buffer, _e, cb) { chunks.push(c.toString('utf8')); cb(); } }), text: () => chunks.join('') };
}

test('a reconcile record as one human line: the message, then key=value (quoted when needed, lists joined)', () => {
  const line = formatLogText({
    level: 30, time: '2026-12-01T20:33:15.124Z', name: 'coral-agent', component: 'reconcile', reconcile_id: 7,
    msg: 'ports +8080 (web.yaml added); Beyla generation 5 -> 6 in 6.1s',
    reason: 'watch', generation: 6, result: 'swapped', ports_added: '8080', ports_removed: '', files: ['web.yaml'], elapsed_ms: 6100,
  });
  assert.equal(line, 'ports +8080 (web.yaml added); Beyla generation 5 -> 6 in 6.1s component=reconcile reconcile_id=7 reason=watch generation=6 result=swapped ports_added=8080 ports_removed="" files=web.yaml elapsed_ms=6100');
  const err = formatLogText({ level: 50, msg: 'control server error\nsecond line', err: { type: 'Error', message: 'listen EACCES: permission denied /run/x.sock', code: 'EACCES', stack: 'Error: ...\n    at x' }, path: '/run/x.sock', hint: 'a "quoted" value' });
  assert.equal(err, 'control server error\\nsecond line err="listen EACCES: permission denied /run/x.sock" path=/run/x.sock hint="a \\"quoted\\" value"');
  assert.match(formatLogText({ level: 40, time: '2026-12-01T20:33:15.124Z', msg: 'x' }, { timeAndLevel: true }), /^20:33:15\.124 WARN  x$/);
});

test('CORAL_LOG_FORMAT: json or text wins; auto is text under journald or on a terminal, JSON on a pipe; anything else is reported', async () => {
  const pipe = { journal: false, tty: false };
  const journal = { journal: true, tty: false };
  assert.equal(chooseLogFormat({}, pipe).format, 'json');
  assert.equal(chooseLogFormat({}, journal).format, 'text');
  assert.equal(chooseLogFormat({}, { journal: false, tty: true }).format, 'text');
  assert.equal(chooseLogFormat({ CORAL_LOG_FORMAT: 'json' }, journal).format, 'json');
  assert.equal(chooseLogFormat({ CORAL_LOG_FORMAT: 'text' }, pipe).format, 'text');
  assert.deepEqual(chooseLogFormat({ CORAL_LOG_FORMAT: 'xml' }, journal), { format: 'text', invalid: 'xml' });

  const out = collect();
  const logger = createLogger({ env: { CORAL_LOG_FORMAT: 'xml' }, destination: out.stream, stdout: journal });
  logger.error({ generation: 6 }, 'Beyla candidate failed');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(out.text(), '<4>CORAL_LOG_FORMAT is not json, text or auto: writing text value=xml\n<3>Beyla candidate failed generation=6\n');
  const json = collect();
  createLogger({ env: { CORAL_LOG_FORMAT: 'json' }, destination: json.stream, stdout: journal }).info({ generation: 6 }, 'hi');
  await new Promise((resolve) => setImmediate(resolve));
  assert.match(json.text(), /^<6>\{"level":30,.*"generation":6,"msg":"hi"\}\n$/);
});

/** Runs a child whose fd 1 is `stdout` and that logs one info, warn, error and debug line; resolves with what was read. */
async function childLog(opts: { stdout: Socket | 'pipe'; env: NodeJS.ProcessEnv; read: () => string }): Promise<string> {
  const script = `const { createLogger } = await import(${JSON.stringify(LOG_MODULE)});
    const log = createLogger({ level: 'debug' });
    log.info({ generation: 6, files: ['web.yaml'] }, 'ports +8080 (web.yaml added); Beyla generation 5 -> 6 in 6.1s');
    log.warn({ file: '/etc/coral/services.d/web.yaml' }, 'service is down');
    log.error({ err: new Error('boom') }, 'reconcile failed');
    log.debug('quiet');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', opts.stdout, 'inherit'], env: opts.env });
  let piped = '';
  child.stdout?.on('data', (c: Buffer) => { piped += c.toString('utf8'); });
  const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000).unref(); // a hung child is SIGKILLed, so the awaited exit still comes and nothing outlives the test
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(deadline);
  assert.equal(code, 0);
  return opts.stdout === 'pipe' ? piped : opts.read();
}

test('under journald (fd 1 is the stream socket JOURNAL_STREAM names) the agent writes <priority> human lines; a redirected stdout gets JSON', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coral-journal-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // A stand-in for journald's stdout socket: a unix stream server reading what the child writes.
  let received = '';
  let onData = (): void => undefined;
  const server = createServer((s) => s.on('data', (c: Buffer) => { received += c.toString('utf8'); onData(); }));
  /** Resolves once `count` whole lines have arrived. */
  const lines = (count: number): Promise<string[]> => new Promise((resolve) => {
    onData = () => { if (received.split('\n').length > count) resolve(received.split('\n').slice(0, count)); };
    onData();
  });
  const path = join(dir, 'stdout.sock');
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const socket = connect(path);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  t.after(() => new Promise<void>((resolve) => {
    socket.destroy();
    server.close(() => resolve());
  }));
  const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
  const stat = fstatSync(fd, { bigint: true });
  const journalStream = `${stat.dev}:${stat.ino}`;
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', JOURNAL_STREAM: journalStream };

  await childLog({ stdout: socket, env, read: () => received });
  const text = await within(lines(4), 10_000, 'four lines on the socket');
  assert.equal(text[0], '<6>ports +8080 (web.yaml added); Beyla generation 5 -> 6 in 6.1s generation=6 files=web.yaml');
  assert.equal(text[1], '<4>service is down file=/etc/coral/services.d/web.yaml');
  assert.equal(text[2], '<3>reconcile failed err=boom');
  assert.equal(text[3], '<7>quiet');

  received = '';
  await childLog({ stdout: socket, env: { ...env, CORAL_LOG_FORMAT: 'json' }, read: () => received });
  const json = await within(lines(4), 10_000, 'four JSON lines on the socket');
  assert.match(json[2]!, /^<3>\{"level":50,.*"msg":"reconcile failed"\}$/);

  // JOURNAL_STREAM inherited, but stdout is a pipe (another inode): JSON lines, no prefix.
  const piped = await childLog({ stdout: 'pipe', env, read: () => '' });
  const first = JSON.parse(piped.split('\n')[0]!) as Record<string, unknown>;
  assert.equal(first.generation, 6);
  assert.equal(first.level, 30);
});
