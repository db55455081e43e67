// The OTLP relay against a real upstream HTTP server: only the active generation reaches it, untouched; limits, timeouts and errors go back to Beyla.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import client from 'prom-client';
import { startOtlpRelay, type OtlpRelayOptions } from '../src/otlp/start-otlp-relay.js';
import { captureLogger } from './support/capture-logger.js';

interface Received { path: string; headers: http.IncomingHttpHeaders; body: Buffer }

/** An upstream collector: records every request; `reply` decides the answer (default 200 with an empty protobuf). */
async function startUpstream(t: TestContext, reply?: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      if (reply) reply(req, res);
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }));
  return { received, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function startRelay(t: TestContext, upstreamUrl: string, opts: Partial<OtlpRelayOptions> = {}) {
  const registry = new client.Registry();
  const relay = await startOtlpRelay({
    upstream: { traces: { url: `${upstreamUrl}/v1/traces` }, metrics: { url: `${upstreamUrl}/custom/metrics` } },
    registry,
    logger: captureLogger().logger,
    ...opts,
  });
  t.after(() => relay.close());
  relay.observe(2, [2]);
  const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
    const found = (await registry.getSingleMetric(name)?.get())?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
    return found?.value ?? 0;
  };
  /** A promotion: the cut, then the supervisor showing the new generation active. */
  const promote = (from: number, to: number): void => {
    relay.cut(from, to);
    relay.observe(to, [from, to]);
  };
  return { relay, metric, promote };
}

function post(url: string, body: Buffer | string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('the active generation is forwarded with path, headers and body untouched; the upstream answer comes back as it is', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => res.writeHead(200, { 'content-type': 'application/x-protobuf', 'x-upstream': 'yes' }).end(Buffer.from([0x0a, 0x00])));
  const { relay, metric } = await startRelay(t, upstream.url);
  const body = Buffer.from([0x0a, 0x03, 0x01, 0x02, 0xff]);
  const res = await post(`${relay.endpointFor(2)}/v1/traces`, body, { authorization: 'Bearer s3cret', 'content-encoding': 'gzip' });
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-upstream'], 'yes');
  assert.equal(upstream.received.length, 1);
  assert.equal(upstream.received[0]!.path, '/v1/traces');
  assert.deepEqual(upstream.received[0]!.body, body);
  assert.equal(upstream.received[0]!.headers.authorization, 'Bearer s3cret');
  assert.equal(upstream.received[0]!.headers['content-encoding'], 'gzip');
  await post(`${relay.endpointFor(2)}/v1/metrics`, 'x');
  assert.equal(upstream.received[1]!.path, '/custom/metrics', "the signal's configured URL is used as it is");
  assert.equal(await metric('coral_agent_otlp_forwarded_total', { signal: 'traces', code: '200' }), 1);
});

test('another generation is answered with success and dropped; after a promotion the roles flip', async (t) => {
  const upstream = await startUpstream(t);
  const { relay, metric, promote } = await startRelay(t, upstream.url);
  const old = await post(`${relay.endpointFor(1)}/v1/traces`, 'old spans');
  assert.equal(old.status, 200);
  const json = await post(`${relay.endpointFor(3)}/v1/traces`, '{}', { 'content-type': 'application/json' });
  assert.deepEqual([json.status, json.body], [200, '{}']);
  assert.equal(upstream.received.length, 0);
  assert.equal(await metric('coral_agent_otlp_dropped_total', { reason: 'inactive' }), 2);
  promote(2, 3);
  // Bodies without items (each generation's items are cut by time: test/otlp-relay-cut.test.ts).
  await post(`${relay.endpointFor(3)}/v1/traces`, '');
  await post(`${relay.endpointFor(1)}/v1/traces`, '');
  assert.deepEqual(upstream.received.map((r) => r.path), ['/v1/traces'], 'generation 1 never was in a cut');
});

test('upstream errors go back to Beyla: its status and Retry-After, 502 when unreachable, 504 past the deadline', async (t) => {
  const busy = await startUpstream(t, (_req, res) => res.writeHead(503, { 'retry-after': '7' }).end('busy'));
  const { relay } = await startRelay(t, busy.url);
  const res = await post(`${relay.endpointFor(2)}/v1/traces`, 'x');
  assert.deepEqual([res.status, res.headers['retry-after'], res.body], [503, '7', 'busy']);

  const down = await startRelay(t, 'http://127.0.0.1:1');
  const refused = await post(`${down.relay.endpointFor(2)}/v1/traces`, 'x');
  assert.equal(refused.status, 502);
  assert.match(refused.body, /127\.0\.0\.1:1 failed/);
  assert.equal(await down.metric('coral_agent_otlp_dropped_total', { reason: 'upstream_error' }), 1);

  const hang = await startUpstream(t, () => undefined);
  const slow = await startRelay(t, hang.url, { upstreamTimeoutMs: 150 });
  const timedOut = await post(`${slow.relay.endpointFor(2)}/v1/traces`, 'x');
  assert.equal(timedOut.status, 504);
  assert.equal(await slow.metric('coral_agent_otlp_dropped_total', { reason: 'timeout' }), 1);
});

test('bodies in flight are bounded: past the cap Beyla gets 503 (it retries); a body over the limit gets 413', async (t) => {
  let release: (() => void) | undefined;
  const gate = new Promise<void>((r) => { release = r; });
  const upstream = await startUpstream(t, (_req, res) => void gate.then(() => res.writeHead(200).end()));
  const { relay, metric } = await startRelay(t, upstream.url, { maxInFlightBytes: 100, maxBodyBytes: 90 });
  const first = post(`${relay.endpointFor(2)}/v1/traces`, 'a'.repeat(80));
  while (upstream.received.length === 0) await new Promise((r) => setImmediate(r));
  assert.equal(relay.inFlightBytes(), 80);
  const second = await post(`${relay.endpointFor(2)}/v1/traces`, 'b'.repeat(80));
  assert.deepEqual([second.status, second.headers['retry-after']], [503, '1']);
  const large = await post(`${relay.endpointFor(2)}/v1/traces`, 'c'.repeat(91));
  assert.equal(large.status, 413);
  release?.();
  assert.equal((await first).status, 200);
  assert.equal(await metric('coral_agent_otlp_dropped_total', { reason: 'overloaded' }), 1);
  assert.equal(await metric('coral_agent_otlp_dropped_total', { reason: 'too_large' }), 1);
  assert.equal(upstream.received.length, 1);
  while (relay.inFlightBytes() !== 0) await new Promise((r) => setImmediate(r));
});

test('anything but POST /g/<generation>/v1/<signal> is refused', async (t) => {
  const upstream = await startUpstream(t);
  const { relay } = await startRelay(t, upstream.url);
  assert.equal((await post(`http://127.0.0.1:${relay.port}/v1/traces`, 'x')).status, 404);
  assert.equal((await post(`${relay.endpointFor(2)}/v1/logs`, 'x')).status, 404, 'no logs endpoint configured');
  const get = await new Promise<number>((resolve) => http.get(`${relay.endpointFor(2)}/v1/traces`, (res) => { res.resume(); resolve(res.statusCode ?? 0); }));
  assert.equal(get, 405);
  assert.equal(upstream.received.length, 0);
});
