// The control socket: status and reload round trips, socket ownership, stale/live sockets, client errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, link, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CoralError } from '../src/errors.js';
import { controlRequest, startControlServer, type ControlHandlers } from '../src/control/index.js';
import { captureLogger } from './support/capture-logger.js';
import { reap } from './support/reap.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'coral-control-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const okHandlers: ControlHandlers = {
  status: () => ({ generation: 3, services: ['api'] }),
  reload: async () => ({ ok: true, generation: 4 }),
};

const isCoral = (code: string, exitCode: number) => (error: unknown): boolean => {
  assert.ok(error instanceof CoralError, String(error));
  assert.equal(error.code, code);
  assert.equal(error.exitCode, exitCode);
  return true;
};

test('status, health and reload round trips over the socket', async (t) => {
  const dir = await tempDir(t);
  const socketPath = path.join(dir, 'run', 'control.sock');
  let valid = true;
  const { logger } = captureLogger();
  const server = await startControlServer({
    socketPath, logger,
    handlers: {
      status: okHandlers.status,
      reload: async () => valid
        ? { ok: true, generation: 4 }
        : { ok: false, errors: [{ file: 'svc.yaml', line: 2, col: 3, message: 'bad port' }] },
    },
  });
  t.after(() => server.close());
  assert.equal(server.path, socketPath);
  assert.equal(((await stat(path.dirname(socketPath))).mode & 0o777), 0o755, 'missing parent dir created 0755');

  assert.deepEqual(await controlRequest({ socketPath, method: 'GET', path: '/v1/status' }),
    { status: 200, body: { generation: 3, services: ['api'] } });
  assert.deepEqual(await controlRequest({ socketPath, method: 'GET', path: '/v1/health' }), { status: 200, body: { ok: true } });
  assert.deepEqual(await controlRequest({ socketPath, method: 'POST', path: '/v1/reload' }),
    { status: 200, body: { ok: true, generation: 4 } });
  valid = false;
  assert.deepEqual(await controlRequest({ socketPath, method: 'POST', path: '/v1/reload' }),
    { status: 422, body: { ok: false, errors: [{ file: 'svc.yaml', line: 2, col: 3, message: 'bad port' }] } });
  const unknown = await controlRequest({ socketPath, method: 'GET', path: '/v1/nope' });
  assert.equal(unknown.status, 404);
  assert.match(unknown.body.error, /no such endpoint/);
  assert.equal((await controlRequest({ socketPath, method: 'GET', path: '/v1/reload' })).status, 405);
});

test('a reload that throws is a 500 with the error; a reload past the bound is a 504', async (t) => {
  const dir = await tempDir(t);
  const socketPath = path.join(dir, 'control.sock');
  let mode: 'throw' | 'hang' = 'throw';
  const { logger, lines } = captureLogger();
  const server = await startControlServer({
    socketPath, logger, reloadTimeoutMs: 150,
    handlers: {
      status: () => ({}),
      reload: () => mode === 'throw'
        ? Promise.reject(new CoralError('BEYLA_FAILED', 'beyla exited with code 255'))
        : new Promise(() => undefined),
    },
  });
  t.after(() => server.close());
  assert.deepEqual(await controlRequest({ socketPath, method: 'POST', path: '/v1/reload' }),
    { status: 500, body: { error: 'beyla exited with code 255', code: 'BEYLA_FAILED' } });
  assert.ok(lines.some((l) => l.level === 50 && l.msg === 'control request failed'));
  mode = 'hang';
  const hung = await controlRequest({ socketPath, method: 'POST', path: '/v1/reload' });
  assert.equal(hung.status, 504);
  assert.match(hung.body.error, /did not finish/);
});

test('a status cut by close() is not serialised once its handler returns', async (t) => {
  const dir = await tempDir(t);
  const socketPath = path.join(dir, 'control.sock');
  const { logger } = captureLogger();
  let release: (body: unknown) => void = () => undefined;
  let entered: () => void = () => undefined;
  const inHandler = new Promise<void>((resolve) => { entered = resolve; });
  let serialised = 0;
  const server = await startControlServer({
    socketPath, logger,
    handlers: {
      status: () => {
        entered();
        return new Promise((resolve) => { release = resolve; });
      },
      reload: okHandlers.reload,
    },
  });
  const request = controlRequest({ socketPath, method: 'GET', path: '/v1/status', timeoutMs: 5000 }).then(() => 'answered', () => 'cut');
  await inHandler;
  await server.close();
  assert.equal(await request, 'cut');
  release({ toJSON: () => { serialised++; return {}; } });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(serialised, 0, 'the body of a request nobody reads any more was serialised');
});

test('the socket is mode 0660 and belongs to the group when it exists; root-only with a warning when not', async (t) => {
  const dir = await tempDir(t);
  const groupFile = path.join(dir, 'group');
  await writeFile(groupFile, 'root:x:0:\ncoral:x:4242:alice\n');
  const { logger } = captureLogger();
  const withGroup = await startControlServer({ socketPath: path.join(dir, 'a.sock'), logger, handlers: okHandlers, groupFile });
  t.after(() => withGroup.close());
  const a = await stat(withGroup.path);
  assert.ok(a.isSocket());
  assert.equal(a.mode & 0o777, 0o660);
  assert.equal(a.gid, 4242);

  const capture = captureLogger();
  const noGroup = await startControlServer({
    socketPath: path.join(dir, 'b.sock'), logger: capture.logger, handlers: okHandlers, groupFile, group: 'nosuchgroup',
  });
  t.after(() => noGroup.close());
  const b = await stat(noGroup.path);
  assert.equal(b.mode & 0o777, 0o660);
  assert.equal(b.gid, process.getgid?.());
  assert.ok(capture.lines.some((l) => l.level === 40 && l.group === 'nosuchgroup' && String(l.msg).includes('group not found')));
  assert.equal((await controlRequest({ socketPath: noGroup.path, method: 'GET', path: '/v1/health' })).status, 200);
});

test('a stale socket file is replaced; a live one is refused; close removes the socket', async (t) => {
  const dir = await tempDir(t);
  const socketPath = path.join(dir, 'control.sock');
  // A process that dies without cleaning up leaves its socket file behind.
  const child = spawn(process.execPath, ['-e',
    `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => reap(child));
  await once(child.stdout, 'data');
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.ok((await stat(socketPath)).isSocket(), 'stale socket left behind');

  const { logger, lines } = captureLogger();
  const server = await startControlServer({ socketPath, logger, handlers: okHandlers });
  assert.ok(lines.some((l) => l.msg === 'removing stale control socket'));
  assert.equal((await controlRequest({ socketPath, method: 'GET', path: '/v1/status' })).status, 200);

  await assert.rejects(startControlServer({ socketPath, logger, handlers: okHandlers }), (error: unknown) => {
    isCoral('CANT_CREATE', 73)(error);
    assert.ok((error as CoralError).message.includes(socketPath));
    return true;
  });
  assert.equal((await controlRequest({ socketPath, method: 'GET', path: '/v1/status' })).status, 200, 'the live server is untouched');

  await server.close();
  await assert.rejects(stat(socketPath), { code: 'ENOENT' });
});

test('a regular file at the socket path is not deleted', async (t) => {
  const dir = await tempDir(t);
  const socketPath = path.join(dir, 'control.sock');
  await writeFile(socketPath, 'precious');
  const { logger } = captureLogger();
  await assert.rejects(startControlServer({ socketPath, logger, handlers: okHandlers }), isCoral('CANT_CREATE', 73));
  assert.ok((await stat(socketPath)).isFile());
});

test('client: no socket -> AGENT_UNAVAILABLE (69) with the start hint; dead socket too', async (t) => {
  const dir = await tempDir(t);
  const socketPath = path.join(dir, 'control.sock');
  await assert.rejects(controlRequest({ socketPath, method: 'GET', path: '/v1/status' }), (error: unknown) => {
    isCoral('AGENT_UNAVAILABLE', 69)(error);
    assert.equal((error as CoralError).message, `coral-agent is not running (no control socket at ${socketPath})`);
    assert.equal((error as CoralError).hint, 'start it with: systemctl start coral-agent');
    return true;
  });
  // A socket file nobody listens on (the agent died): a hard link outlives the listener.
  const net = await import('node:net');
  const listener = net.createServer().listen(path.join(dir, 'live.sock'));
  await once(listener, 'listening');
  await link(path.join(dir, 'live.sock'), socketPath);
  await new Promise((resolve) => listener.close(resolve));
  assert.ok((await stat(socketPath)).isSocket());
  await assert.rejects(controlRequest({ socketPath, method: 'POST', path: '/v1/reload' }), isCoral('AGENT_UNAVAILABLE', 69));
});

test('client: a server that never answers -> TEMPORARY; a non-JSON answer -> INTERNAL', async (t) => {
  const dir = await tempDir(t);
  const http = await import('node:http');
  const silentPath = path.join(dir, 'silent.sock');
  const silent = http.createServer(() => undefined).listen(silentPath);
  const textPath = path.join(dir, 'text.sock');
  const text = http.createServer((_req, res) => res.end('<html>')).listen(textPath);
  t.after(() => {
    silent.closeAllConnections();
    silent.close();
    text.close();
  });
  await Promise.all([once(silent, 'listening'), once(text, 'listening')]);
  await assert.rejects(controlRequest({ socketPath: silentPath, method: 'GET', path: '/v1/status', timeoutMs: 100 }),
    isCoral('TEMPORARY', 75));
  await assert.rejects(controlRequest({ socketPath: textPath, method: 'GET', path: '/v1/status' }), isCoral('INTERNAL', 70));
});

test('client: a user outside the socket group gets PERMISSION (77)', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to run the client as another user (uid 65534)');
    return;
  }
  const dir = await tempDir(t);
  await chmod(dir, 0o755);
  const socketPath = path.join(dir, 'control.sock');
  const { logger } = captureLogger();
  const server = await startControlServer({ socketPath, logger, handlers: okHandlers, group: 'nosuchgroup' });
  t.after(() => server.close());

  const clientUrl = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/control/control-request.js')).href;
  const script = `import { controlRequest } from ${JSON.stringify(clientUrl)};
    controlRequest({ socketPath: ${JSON.stringify(socketPath)}, method: 'GET', path: '/v1/status' }).then(
      () => console.log(JSON.stringify({ ok: true })),
      (e) => console.log(JSON.stringify({ code: e.code, exitCode: e.exitCode, message: e.message, hint: e.hint })));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => reap(child));
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString('utf8'); });
  const [exitCode] = await once(child, 'exit');
  assert.equal(exitCode, 0);
  assert.deepEqual(JSON.parse(out), {
    code: 'PERMISSION', exitCode: 77, message: `permission denied on ${socketPath}`, hint: 'run as root or as a member of group coral',
  });
});
