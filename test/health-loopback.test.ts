// Health checks reach a service on 127.0.0.1 or on ::1 (real listeners on one, the other, both, neither), within the start budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { ServiceHealth } from '../src/health/index.js';
import { captureLogger } from './support/capture-logger.js';
import { DEFAULTS, closeServer, listen, monitorFor, nextCheck, service, waitFor } from './support/health-fixtures.js';
import { ipv6LoopbackUnavailable } from './support/ipv6-loopback.js';

const noIpv6 = await ipv6LoopbackUnavailable();
if (noIpv6) process.stderr.write(`health-loopback: skipping the ::1 tests: ${noIpv6}\n`);

/** A port that nothing listens on, at 127.0.0.1 nor at ::1 (both held once, then closed). */
async function portFreeOnBoth(): Promise<number> {
  for (let tries = 0; ; tries++) {
    const v4 = net.createServer();
    const port = await listen(v4);
    const v6 = net.createServer();
    const onV6 = await new Promise<boolean>((resolve) => {
      v6.once('error', () => resolve(false));
      v6.listen(port, '::1', () => resolve(true));
    });
    await closeServer(v4);
    if (onV6) await closeServer(v6);
    if (onV6 || noIpv6 || tries > 20) return port;
  }
}

function counting(): { server: net.Server; connections: () => number } {
  let count = 0;
  const server = net.createServer((socket) => {
    count++;
    socket.destroy();
  });
  return { server, connections: () => count };
}

test('tcp, a service on ::1 only: up at the first check, shown as [::1]:port; later checks go to ::1 first, and a move to 127.0.0.1 costs no failed check', { skip: noIpv6 }, async (t) => {
  const v6 = counting();
  const port = await listen(v6.server, 0, '::1');
  t.after(() => closeServer(v6.server));
  const { logger } = captureLogger();
  const { monitor } = monitorFor(t, logger);
  const failures: ServiceHealth[] = [];
  monitor.on('check', (_name, h) => { if (h.lastError !== undefined) failures.push(h); });
  monitor.update([service('api', port, { kind: 'tcp' })]);
  assert.equal(monitor.status().api?.target, `127.0.0.1:${port}`, 'before any answer the target is the first address tried');

  const first = await nextCheck(monitor, 'api');
  assert.equal(first.state, 'up', `the first check found the service on ::1: ${JSON.stringify(first)}`);
  assert.equal(first.target, `[::1]:${port}`);

  // Something else starts on 127.0.0.1 at the same port: the service still answers on ::1, which is tried first.
  const v4 = counting();
  await listen(v4.server, port);
  t.after(() => closeServer(v4.server));
  const before = v6.connections();
  for (let i = 0; i < 3; i++) await nextCheck(monitor, 'api');
  assert.equal(v4.connections(), 0, 'the address that answered last is tried first');
  assert.ok(v6.connections() >= before + 3);

  await closeServer(v6.server);
  const moved = await waitFor(monitor, 'api', (h) => h.target === `127.0.0.1:${port}`);
  assert.equal(moved.state, 'up');
  assert.deepEqual(failures, [], 'no check failed on the way');
});

test('http, a service on ::1 only: up, shown as http://[::1]:port/path, asked with Host: [::1]:port; a bad answer there is not retried on 127.0.0.1', { skip: noIpv6 }, async (t) => {
  let status = 200;
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.headers.host} ${req.url}`);
    res.writeHead(status).end('x');
  });
  const port = await listen(server, 0, '::1');
  t.after(() => closeServer(server));
  const { logger } = captureLogger();
  const { monitor } = monitorFor(t, logger, { ...DEFAULTS, unhealthyThreshold: 1 });
  monitor.update([service('web', port, { kind: 'http', path: '/healthz' })]);

  const first = await nextCheck(monitor, 'web');
  assert.equal(first.state, 'up', `the first check found the service on ::1: ${JSON.stringify(first)}`);
  assert.equal(first.target, `http://[::1]:${port}/healthz`);
  assert.equal(requests[0], `[::1]:${port} /healthz`);

  status = 500;
  const down = await waitFor(monitor, 'web', (h) => h.state === 'down');
  assert.equal(down.lastError, 'HTTP 500', 'the answer of ::1, not a refusal from 127.0.0.1');
  assert.equal(down.target, `http://[::1]:${port}/healthz`);
});

test('a service on 127.0.0.1 only, tcp and http: up and shown as before', async (t) => {
  const tcp = counting();
  const tcpPort = await listen(tcp.server);
  const web = http.createServer((_req, res) => res.end('ok'));
  const webPort = await listen(web);
  t.after(() => Promise.all([closeServer(tcp.server), closeServer(web)]));
  const { logger } = captureLogger();
  const { monitor } = monitorFor(t, logger);
  monitor.update([service('api', tcpPort, { kind: 'tcp' }), service('web', webPort, { kind: 'http', path: '/healthz' })]);
  const api = await waitFor(monitor, 'api', (h) => h.state === 'up');
  const www = await waitFor(monitor, 'web', (h) => h.state === 'up');
  assert.equal(api.target, `127.0.0.1:${tcpPort}`);
  assert.equal(www.target, `http://127.0.0.1:${webPort}/healthz`);
});

test('a service on both addresses, tcp and http: 127.0.0.1 answers and ::1 is never tried', { skip: noIpv6 }, async (t) => {
  const v4 = counting();
  const port = await listen(v4.server);
  const v6 = counting();
  await listen(v6.server, port, '::1');
  let v6Requests = 0;
  const web4 = http.createServer((_req, res) => res.end('ok'));
  const webPort = await listen(web4);
  const web6 = http.createServer((_req, res) => { v6Requests++; res.end('ok'); });
  await listen(web6, webPort, '::1');
  t.after(() => Promise.all([v4.server, v6.server, web4, web6].map((s) => closeServer(s))));
  const { logger } = captureLogger();
  const { monitor } = monitorFor(t, logger);
  monitor.update([service('api', port, { kind: 'tcp' }), service('web', webPort, { kind: 'http' })]);
  for (let i = 0; i < 3; i++) await Promise.all([nextCheck(monitor, 'api'), nextCheck(monitor, 'web')]);
  assert.equal(monitor.status().api?.target, `127.0.0.1:${port}`);
  assert.equal(monitor.status().web?.target, `http://127.0.0.1:${webPort}/`);
  assert.equal(v6.connections(), 0);
  assert.equal(v6Requests, 0);
});

test('nothing on either address, tcp and http: the check fails with both addresses in the target and both refusals in the error', { skip: noIpv6 }, async (t) => {
  const port = await portFreeOnBoth();
  const { logger, lines } = captureLogger();
  const { monitor } = monitorFor(t, logger, { ...DEFAULTS, unhealthyThreshold: 1 });
  monitor.update([service('api', port, { kind: 'tcp' }), service('web', port, { kind: 'http', path: '/healthz' })]);
  const [api, web] = await Promise.all([nextCheck(monitor, 'api'), nextCheck(monitor, 'web')]);
  for (const h of [api, web]) {
    assert.equal(h.state, 'down');
    assert.equal(h.lastError, `connect ECONNREFUSED 127.0.0.1:${port}; connect ECONNREFUSED ::1:${port}`);
  }
  assert.equal(api.target, `127.0.0.1:${port}, [::1]:${port}`);
  assert.equal(web.target, `http://127.0.0.1:${port}/healthz, http://[::1]:${port}/healthz`);
  const logged = lines.find((l) => l.msg === 'service is down' && l.service === 'api');
  assert.equal(logged?.target, `127.0.0.1:${port}, [::1]:${port}`);
});

test('the attempt on the second address takes a start slot of its own: 10 refused checks at 10 a second take 20 slots', async (t) => {
  const port = await portFreeOnBoth();
  const { logger } = captureLogger();
  const { monitor } = monitorFor(t, logger, { ...DEFAULTS, intervalMs: 60_000 }, { maxPerSecond: 10 });
  const names = Array.from({ length: 10 }, (_, i) => `svc-${i}`);
  const started = performance.now();
  monitor.update(names.map((name) => service(name, port, { kind: 'tcp', intervalMs: 60_000 })));
  await Promise.all(names.map((name) => waitFor(monitor, name, (h) => h.consecutiveFailures === 1)));
  // 20 starts at 10 a second with a 100 ms burst: at least 1.8 s. A fallback outside the budget would take 0.9 s.
  const spanMs = performance.now() - started;
  assert.ok(spanMs >= 1500, `10 checks of 2 attempts each at 10 starts a second took ${Math.round(spanMs)} ms`);
});
