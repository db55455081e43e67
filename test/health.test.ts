// Service health checks against real TCP/HTTP servers: thresholds, one log line per transition, the gauge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import client from 'prom-client';
import { HealthMonitor } from '../src/health/index.js';
import { captureLogger } from './support/capture-logger.js';
import { DEFAULTS, closeServer, listen, monitorFor, service, waitFor } from './support/health-fixtures.js';

test('tcp: a listening service is up; once it stops it is down after the threshold, logged once', async (t) => {
  const server = net.createServer((socket) => socket.destroy());
  const port = await listen(server);
  t.after(() => closeServer(server));
  const { logger, lines } = captureLogger();
  const { monitor, registry } = monitorFor(t, logger);
  const changes: string[] = [];
  monitor.on('change', (name, health, previous) => changes.push(`${name}:${previous}->${health.state}`));
  monitor.update([service('api', port, { kind: 'tcp' })]);
  assert.equal(monitor.status().api?.state, 'unknown');

  const up = await waitFor(monitor, 'api', (h) => h.state === 'up');
  assert.equal(up.target, `127.0.0.1:${port}`);
  assert.ok(up.lastCheckAt && !Number.isNaN(Date.parse(up.lastCheckAt)));
  assert.match(await registry.metrics(), /^coral_agent_service_up\{service="api"\} 1$/m);

  await closeServer(server);
  const down = await waitFor(monitor, 'api', (h) => h.state === 'down');
  assert.equal(down.consecutiveFailures, 3, 'down exactly at the unhealthy threshold');
  assert.match(down.lastError ?? '', /ECONNREFUSED/);
  assert.match(await registry.metrics(), /^coral_agent_service_up\{service="api"\} 0$/m);
  await waitFor(monitor, 'api', (h) => h.consecutiveFailures >= 8);
  const downLogs = lines.filter((l) => l.msg === 'service is down');
  assert.equal(downLogs.length, 1, 'one log line for the transition, not one per failed check');
  assert.equal(downLogs[0]?.level, 40);
  assert.equal(downLogs[0]?.service, 'api');
  assert.match(String(downLogs[0]?.error), /ECONNREFUSED/);

  // Back again: up only after `healthyThreshold` consecutive successes.
  const again = net.createServer((socket) => socket.destroy());
  await listen(again, port);
  t.after(() => closeServer(again));
  const firstSuccess = await waitFor(monitor, 'api', (h) => h.consecutiveFailures === 0);
  assert.equal(firstSuccess.state, 'down', 'one success is not enough after being down');
  await waitFor(monitor, 'api', (h) => h.state === 'up');
  assert.deepEqual(changes, ['api:unknown->up', 'api:up->down', 'api:down->up']);
  assert.equal(lines.filter((l) => l.msg === 'service is up' && l.level === 30).length, 2);

  // A new interval keeps the state (no reset, no new transition).
  monitor.update([service('api', port, { kind: 'tcp', intervalMs: 30 })]);
  const retimed = monitor.status().api;
  assert.equal(retimed?.state, 'up');
  await waitFor(monitor, 'api', (h) => h.lastCheckAt !== retimed?.lastCheckAt);
  assert.equal(changes.length, 3);
});

test('http: 200 is up, 500 is down; the configured path is requested', async (t) => {
  let status = 200;
  const paths = new Set<string>();
  const server = http.createServer((req, res) => {
    paths.add(req.url ?? '');
    res.writeHead(status).end('x');
  });
  const port = await listen(server);
  t.after(() => closeServer(server));
  const { logger, lines } = captureLogger();
  const { monitor, registry } = monitorFor(t, logger, { ...DEFAULTS, unhealthyThreshold: 2 });
  monitor.update([service('web', port, { kind: 'http', path: '/healthz' })]);

  const up = await waitFor(monitor, 'web', (h) => h.state === 'up');
  assert.equal(up.target, `http://127.0.0.1:${port}/healthz`);
  assert.deepEqual([...paths], ['/healthz']);
  status = 500;
  const down = await waitFor(monitor, 'web', (h) => h.state === 'down');
  assert.equal(down.lastError, 'HTTP 500');
  assert.match(await registry.metrics(), /^coral_agent_service_up\{service="web"\} 0$/m);
  assert.equal(lines.filter((l) => l.msg === 'service is down').length, 1);
  status = 302;
  await waitFor(monitor, 'web', (h) => h.state === 'up');
});

test('checks of one service never overlap: a hanging service sees one request per timeout', async (t) => {
  let requests = 0;
  const server = http.createServer(() => { requests++; });
  const port = await listen(server);
  t.after(() => closeServer(server));
  const { logger } = captureLogger();
  const { monitor } = monitorFor(t, logger);
  // The interval is far shorter than the timeout: overlapping checks would pile up requests.
  monitor.update([service('slow', port, { kind: 'http', path: '/', intervalMs: 1, timeoutMs: 300 })]);
  const first = await waitFor(monitor, 'slow', (h) => h.consecutiveFailures === 1);
  assert.match(first.lastError ?? '', /no answer within 300 ms/);
  assert.equal(requests, 1);
  await waitFor(monitor, 'slow', (h) => h.consecutiveFailures === 2);
  assert.equal(requests, 2);
});

test('a service removed by update() is no longer checked and its gauge series is gone', async (t) => {
  let keptConnections = 0;
  let goneConnections = 0;
  const kept = net.createServer((s) => { keptConnections++; s.destroy(); });
  const gone = net.createServer((s) => { goneConnections++; s.destroy(); });
  const keptPort = await listen(kept);
  const gonePort = await listen(gone);
  t.after(() => Promise.all([closeServer(kept), closeServer(gone)]));
  const { logger } = captureLogger();
  const { monitor, registry } = monitorFor(t, logger);
  monitor.update([service('kept', keptPort, {}), service('gone', gonePort, {})]);
  await waitFor(monitor, 'kept', (h) => h.state === 'up');
  await waitFor(monitor, 'gone', (h) => h.state === 'up');
  assert.match(await registry.metrics(), /^coral_agent_service_up\{service="gone"\} 1$/m);

  monitor.update([service('kept', keptPort, {})]);
  assert.deepEqual(Object.keys(monitor.status()), ['kept']);
  const text = await registry.metrics();
  assert.doesNotMatch(text, /service="gone"/);
  assert.match(text, /^coral_agent_service_up\{service="kept"\} 1$/m);
  const goneBefore = goneConnections;
  const keptBefore = keptConnections;
  await waitFor(monitor, 'kept', () => keptConnections >= keptBefore + 3);
  assert.ok(goneConnections <= goneBefore + 1, 'at most the check already in flight reached the removed service');
});

test("kind 'none' is listed but never checked and has no gauge series", async (t) => {
  let quietConnections = 0;
  const quiet = net.createServer((s) => { quietConnections++; s.destroy(); });
  const busy = net.createServer((s) => s.destroy());
  const quietPort = await listen(quiet);
  const busyPort = await listen(busy);
  t.after(() => Promise.all([closeServer(quiet), closeServer(busy)]));
  const { logger } = captureLogger();
  const { monitor, registry } = monitorFor(t, logger);
  monitor.update([service('quiet', quietPort, { kind: 'none' }), service('busy', busyPort, {})]);
  let busyChecks = 0;
  monitor.on('check', (name) => { if (name === 'busy') busyChecks++; });
  await waitFor(monitor, 'busy', () => busyChecks >= 3);
  assert.equal(quietConnections, 0);
  assert.deepEqual(monitor.status().quiet, { state: 'unknown', kind: 'none', target: '', consecutiveFailures: 0 });
  assert.doesNotMatch(await registry.metrics(), /service="quiet"/);
});

test('aborting the signal stops the checks and drops the series', async (t) => {
  const server = net.createServer((s) => s.destroy());
  const port = await listen(server);
  t.after(() => closeServer(server));
  const { logger } = captureLogger();
  const registry = new client.Registry();
  const controller = new AbortController();
  const monitor = new HealthMonitor({ logger, registry, defaults: DEFAULTS, signal: controller.signal });
  monitor.update([service('api', port, {})]);
  await waitFor(monitor, 'api', (h) => h.state === 'up');
  controller.abort();
  assert.deepEqual(monitor.status(), {});
  assert.doesNotMatch(await registry.metrics(), /service="api"/);
  monitor.update([service('api', port, {})]);
  assert.deepEqual(monitor.status(), {}, 'a closed monitor ignores updates');
});

test('a monitor sharing another one\'s gauge drops only its own series when it closes', async (t) => {
  const server = net.createServer((s) => s.destroy());
  const port = await listen(server);
  t.after(() => closeServer(server));
  const { logger } = captureLogger();
  const registry = new client.Registry();
  const first = new HealthMonitor({ logger, registry, defaults: DEFAULTS });
  const second = new HealthMonitor({ logger, registry, defaults: DEFAULTS });
  t.after(() => first.close());
  first.update([service('api', port, {})]);
  second.update([service('web', port, {})]);
  await Promise.all([waitFor(first, 'api', (h) => h.state === 'up'), waitFor(second, 'web', (h) => h.state === 'up')]);
  second.close();
  const text = await registry.metrics();
  assert.match(text, /service="api"/);
  assert.doesNotMatch(text, /service="web"/);
});

test('checks of many services are capped: never more in flight than maxConcurrent', async (t) => {
  let inFlight = 0;
  let most = 0;
  const server = http.createServer((_req, res) => {
    inFlight++;
    most = Math.max(most, inFlight);
    // Each answer is held 100 ms so that checks overlap: the timing under test, not a wait.
    setTimeout(() => {
      inFlight--;
      res.end('ok');
    }, 100);
  });
  const port = await listen(server);
  t.after(() => closeServer(server));
  const { logger } = captureLogger();
  const controller = new AbortController();
  const monitor = new HealthMonitor({ logger, registry: new client.Registry(), defaults: DEFAULTS, signal: controller.signal, maxConcurrent: 3, maxPerSecond: 10_000 });
  t.after(() => controller.abort());
  const names = Array.from({ length: 12 }, (_, i) => `svc-${i}`);
  monitor.update(names.map((name) => service(name, port, { kind: 'http', intervalMs: 60_000 })));
  await Promise.all(names.map((name) => waitFor(monitor, name, (h) => h.state === 'up')));
  assert.ok(most <= 3, `${most} checks in flight at once (cap 3)`);
});

test('check starts are spread at maxPerSecond, and checks that cannot keep their interval are logged as late once', async (t) => {
  const server = net.createServer((socket) => socket.end());
  const port = await listen(server);
  t.after(() => closeServer(server));
  const { logger, lines } = captureLogger();
  const controller = new AbortController();
  // 10 a second: 20 checks due at once take at least ~1.8 s to start (a 100 ms burst allowed), more than their 1 s interval.
  const monitor = new HealthMonitor({ logger, registry: new client.Registry(), defaults: DEFAULTS, signal: controller.signal, maxPerSecond: 10 });
  t.after(() => controller.abort());
  const started: number[] = [];
  monitor.on('check', () => started.push(performance.now()));
  const names = Array.from({ length: 20 }, (_, i) => `svc-${i}`);
  const first = performance.now();
  monitor.update(names.map((name) => service(name, port, { intervalMs: 1000 })));
  await Promise.all(names.map((name) => waitFor(monitor, name, (h) => h.state === 'up')));
  const spanMs = Math.max(...started.slice(0, 20)) - first;
  assert.ok(spanMs >= 1500, `20 checks at 10 a second all finished within ${Math.round(spanMs)} ms`);
  const late = lines.filter((l) => l.msg === 'health checks run late: more are due than the agent starts (services are checked less often than their interval)');
  assert.equal(late.length, 1, 'logged once while the backlog lasts');
});
