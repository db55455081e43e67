// The fast path's request over node:net: it reads what the control server sends, tells "no agent" from "failed after sending", and parses both body framings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startControlServer } from '../src/control/index.js';
import { lightRequest, parseHttpResponse } from '../src/control/light-request.js';
import { captureLogger } from './support/capture-logger.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'coral-light-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('a POST to the real control server comes back with its status and JSON body', async (t) => {
  const dir = await tempDir(t);
  const socketPath = path.join(dir, 'ctl.sock');
  const seen: unknown[] = [];
  const server = await startControlServer({
    socketPath, logger: captureLogger().logger, group: 'no-such-group-here',
    handlers: {
      status: () => ({ ok: true }),
      reload: async () => ({ ok: true }),
      connect: async (body) => {
        seen.push(body);
        return { status: 422, body: { ok: false, error: { code: 'INVALID_CONFIG', message: 'port 1 is taken', text: 'é'.repeat(40_000) } } };
      },
    },
  });
  t.after(() => server.close());
  const answer = await lightRequest({ socketPath, method: 'POST', path: '/v1/connect', body: { text: 'name: a\n', n: 'ü' }, timeoutMs: 10_000 });
  assert.equal(answer.kind, 'answer');
  assert.ok(answer.kind === 'answer');
  assert.equal(answer.status, 422);
  assert.equal((answer.body as { error: { text: string } }).error.text.length, 40_000);
  assert.deepEqual(seen, [{ text: 'name: a\n', n: 'ü' }]);
  const missing = await lightRequest({ socketPath, method: 'GET', path: '/v1/nothing', timeoutMs: 10_000 });
  assert.equal(missing.kind === 'answer' && missing.status, 404);
});

test('no socket is unreachable; a peer that closes without an answer is a failure; one that never answers times out', async (t) => {
  const dir = await tempDir(t);
  const none = await lightRequest({ socketPath: path.join(dir, 'absent.sock'), method: 'POST', path: '/v1/connect', body: {}, timeoutMs: 10_000 });
  assert.equal(none.kind, 'unreachable');
  const rude = path.join(dir, 'rude.sock');
  const silent = path.join(dir, 'silent.sock');
  const servers = [createServer((s) => s.once('data', () => s.end('nonsense'))), createServer(() => undefined)];
  await Promise.all([new Promise<void>((r) => servers[0]!.listen(rude, r)), new Promise<void>((r) => servers[1]!.listen(silent, r))]);
  t.after(() => { for (const s of servers) s.close(); });
  assert.equal((await lightRequest({ socketPath: rude, method: 'POST', path: '/v1/connect', body: {}, timeoutMs: 10_000 })).kind, 'failed');
  assert.equal((await lightRequest({ socketPath: silent, method: 'POST', path: '/v1/connect', body: {}, timeoutMs: 200 })).kind, 'timeout');
});

test('an answer with a chunked body or a content length is read to its end; a cut one is not an answer', () => {
  const chunked = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n');
  assert.deepEqual(parseHttpResponse(chunked), { status: 200, body: { a: 1 } });
  const sized = Buffer.from('HTTP/1.1 409 Conflict\r\ncontent-length: 7\r\n\r\n{"b":2}trailing');
  assert.deepEqual(parseHttpResponse(sized), { status: 409, body: { b: 2 } });
  assert.equal(parseHttpResponse(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 70\r\n\r\n{"b":2}')), undefined);
  assert.equal(parseHttpResponse(Buffer.from('HTTP/1.1 200 OK\r\n')), undefined);
});
