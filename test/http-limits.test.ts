// The control socket and the metrics port under hostile clients (a running agent, real sockets): idle connections are capped and timed out, an endless body after an error answer is cut.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { DEFAULT_HTTP_LIMITS } from '../src/http-limits.js';
import { METRICS_MAX_CONNECTIONS } from '../src/metrics/start-metrics-server.js';
import { createDaemonHarness, dropIn, waitUntil } from './support/daemon-harness.js';

const IDLE = 5000;
/** What an endless body may push before the agent must have closed the connection (socket buffers are far smaller). */
const PUMP_LIMIT_BYTES = 256 * 1024 * 1024;

const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

type Target = { path: string } | { port: number; host: string };

/** Opens `count` connections that never send a byte; resolves once every attempt has connected or failed. */
async function openIdle(count: number, target: Target, sockets: Socket[]): Promise<{ connected: number; failed: number }> {
  let connected = 0;
  let failed = 0;
  for (let start = 0; start < count; start += 250) {
    await Promise.all(Array.from({ length: Math.min(250, count - start) }, () => new Promise<void>((settle) => {
      const socket = connect(target);
      sockets.push(socket);
      socket.once('connect', () => { connected += 1; settle(); });
      socket.once('error', () => { failed += 1; settle(); });
      socket.on('error', () => undefined);
    })));
  }
  return { connected, failed };
}

interface Pumped {
  written: number;
  closedByServer: boolean;
}

/** Sends `head` then an endless chunked body as fast as the socket takes it, until the agent closes the connection or the pump limit. */
function pumpEndlessBody(target: Target, head: string): Promise<Pumped> {
  return new Promise((resolvePumped) => {
    const socket = connect(target);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    let done = false;
    const finish = (closedByServer: boolean): void => {
      if (done) return;
      done = true;
      resolvePumped({ written: socket.bytesWritten, closedByServer });
      socket.destroy();
    };
    const pump = (): void => {
      while (!done && !socket.destroyed) {
        if (socket.bytesWritten > PUMP_LIMIT_BYTES) {
          finish(false);
          return;
        }
        if (!socket.write(frame)) return;
      }
    };
    socket.on('drain', pump);
    // EPIPE / ECONNRESET on a write, or the end of the stream: the agent closed the connection.
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('end', () => finish(true));
    socket.once('connect', () => {
      socket.write(head);
      pump();
    });
  });
}

/** Sends `head` of a chunked request and `body` (no end of body); resolves with the answer once the agent has closed the connection. */
function headOnly(target: Target, head: string, body: Buffer, deadlineMs: number): Promise<{ statusLine: string; closedByServer: boolean }> {
  return new Promise((resolveAnswer) => {
    const socket = connect({ ...target, allowHalfOpen: true });
    let answer = '';
    const timer = setTimeout(() => finish(false), deadlineMs);
    const finish = (closedByServer: boolean): void => {
      clearTimeout(timer);
      resolveAnswer({ statusLine: answer.split('\r\n')[0] ?? '', closedByServer });
      socket.destroy();
    };
    socket.on('data', (data: Buffer) => { answer += data.toString('latin1'); });
    socket.on('end', () => finish(true));
    socket.on('error', () => finish(true));
    socket.once('connect', () => socket.write(Buffer.concat([Buffer.from(head), body])));
  });
}

test(`${IDLE} idle connections on each of the control socket and the metrics port: at most the cap is held, and none past the header timeout`, async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'api.yaml': dropIn('api', 3000) } });
  await h.start();
  await h.waitForLivePorts('3000');
  const baseline = fdCount(h.pid);
  const sockets: Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));

  const control = await openIdle(IDLE, { path: h.socketPath }, sockets);
  const metrics = await openIdle(IDLE, { port: h.metrics!.port, host: '127.0.0.1' }, sockets);
  const held = fdCount(h.pid) - baseline;
  const cap = DEFAULT_HTTP_LIMITS.maxConnections + METRICS_MAX_CONNECTIONS;
  t.diagnostic(`control: ${control.connected} connected, ${control.failed} failed; metrics: ${metrics.connected} connected, ${metrics.failed} failed; agent fds ${baseline} + ${held}`);
  assert.ok(held <= cap + 16, `the agent holds ${held} more fds after ${2 * IDLE} idle connections (caps ${DEFAULT_HTTP_LIMITS.maxConnections} and ${METRICS_MAX_CONNECTIONS})`);

  const startedAt = Date.now();
  const after = await waitUntil('the idle connections to be closed', () => {
    const now = fdCount(h.pid) - baseline;
    return now <= 8 ? { now } : undefined;
  }, DEFAULT_HTTP_LIMITS.headersTimeoutMs * 3);
  t.diagnostic(`back to ${baseline} + ${after.now} fds ${Date.now() - startedAt} ms after the last connection`);

  // The agent still answers on both.
  assert.equal((await h.status()).state, 'ready');
  assert.match(await h.scrape(), /^coral_agent_beyla_up 1$/m);
  await h.stop();
});

test('an endless chunked body is cut once the answer is an error (405, 413), on the control socket and the metrics port', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'api.yaml': dropIn('api', 3000) } });
  await h.start();
  const control: Target = { path: h.socketPath };
  const metrics: Target = { port: h.metrics!.port, host: '127.0.0.1' };
  const chunked = (method: string, path: string): string => `${method} ${path} HTTP/1.1\r\nhost: agent\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`;
  const overCap = Buffer.concat([Buffer.from(`${(300 * 1024).toString(16)}\r\n`), Buffer.alloc(300 * 1024, 0x61), Buffer.from('\r\n')]);
  const none = Buffer.alloc(0);
  const cases: Array<{ name: string; target: Target; head: string; status: RegExp; body: Buffer }> = [
    { name: 'control POST /v1/status', target: control, head: chunked('POST', '/v1/status'), status: / 4(?:05|13) /, body: none },
    { name: 'control GET /v1/status', target: control, head: chunked('GET', '/v1/status'), status: / 413 /, body: none },
    { name: 'control POST /v1/connect', target: control, head: chunked('POST', '/v1/connect'), status: / 413 /, body: overCap },
    { name: 'metrics POST /metrics', target: metrics, head: chunked('POST', '/metrics'), status: / 4(?:05|13) /, body: none },
    { name: 'metrics GET /metrics', target: metrics, head: chunked('GET', '/metrics'), status: / 413 /, body: none },
  ];
  for (const c of cases) {
    // The answer comes and the agent closes the connection although the body never ended.
    const answered = await headOnly(c.target, c.head, c.body, 10_000);
    assert.match(answered.statusLine, c.status, `${c.name}: answered`);
    assert.equal(answered.closedByServer, true, `${c.name}: the agent kept the connection open after its error answer`);
    // A client that goes on sending: the agent stops reading, whatever the client does.
    const pumped = await pumpEndlessBody(c.target, c.head);
    t.diagnostic(`${c.name}: ${answered.statusLine}; ${(pumped.written / 1024 / 1024).toFixed(1)} MiB taken before the agent closed the connection`);
    assert.equal(pumped.closedByServer, true, `${c.name}: the agent kept reading: ${pumped.written} bytes taken`);
    assert.ok(pumped.written < 64 * 1024 * 1024, `${c.name}: ${pumped.written} bytes taken before the close`);
  }
  assert.equal((await h.status()).state, 'ready');
  await h.stop();
});
