// The cut between two Beyla generations: bodies split by item time (protobuf and JSON, checked by OpenTelemetry's own decoder), the windows, and the relay forwarding each item once.
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { test, type TestContext } from 'node:test';
import client from 'prom-client';
import { GenerationWindows, MAX_NS, MIN_NS } from '../src/otlp/generation-windows.js';
import { OtlpBodyError, splitByTime } from '../src/otlp/split-by-time.js';
import { startOtlpRelay } from '../src/otlp/start-otlp-relay.js';
import { captureLogger } from './support/capture-logger.js';

interface Message { encode(m: unknown): { finish(): Uint8Array }; decode(b: Uint8Array): unknown; fromObject(o: object): unknown; toObject(m: unknown, o: object): Record<string, unknown> }
const root = createRequire(import.meta.url)('@opentelemetry/otlp-transformer/build/src/generated/root.js') as {
  opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: Message } }; metrics: { v1: { ExportMetricsServiceRequest: Message } } } } };
};
const Traces = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const Metrics = root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;

const T = 1_764_633_600_000_000_000n; // a cut, in ns
const span = (name: string, startNs: bigint) => ({ traceId: Buffer.alloc(16, 1), spanId: Buffer.from(name.padEnd(8, '.')), name, startTimeUnixNano: String(startNs), endTimeUnixNano: String(startNs + 1000n) });
const point = (endNs: bigint, value: number) => ({ startTimeUnixNano: String(endNs - 200_000_000n), timeUnixNano: String(endNs), asInt: String(value) });

/** Two resources; the second's spans all lie before the cut, so its whole resource goes. */
const tracesBody = (): Uint8Array => Traces.encode(Traces.fromObject({
  resourceSpans: [
    { resource: { attributes: [{ key: 'service.name', value: { stringValue: 'a' } }] }, scopeSpans: [{ scope: { name: 's1' }, spans: [span('old1', T - 1n), span('atcut', T), span('new1', T + 5n)] }, { scope: { name: 's2' }, spans: [span('old2', T - 9n)] }] },
    { resource: { attributes: [{ key: 'service.name', value: { stringValue: 'b' } }] }, scopeSpans: [{ scope: { name: 's3' }, spans: [span('old3', 1n)] }] },
  ],
})).finish();

const decodedSpans = (body: Uint8Array): string[] => {
  const out = Traces.toObject(Traces.decode(body), { longs: String }) as { resourceSpans?: Array<{ scopeSpans?: Array<{ scope?: { name: string }; spans?: Array<{ name: string }> }> }> };
  return (out.resourceSpans ?? []).flatMap((rs) => (rs.scopeSpans ?? []).map((ss) => `${ss.scope?.name}:${(ss.spans ?? []).map((s) => s.name).join(',')}`));
};

test('protobuf spans: only the items on the kept side remain, containers emptied by the cut go, untouched bodies are the same bytes', () => {
  const body = tracesBody();
  const after = splitByTime({ signal: 'traces', json: false, body, keep: (ns) => ns >= T });
  assert.deepEqual([after.kept, after.dropped, after.maxKeptNs], [2, 3, T + 5n]);
  assert.deepEqual(decodedSpans(after.body!), ['s1:atcut,new1'], 'the span exactly at the cut is the new side\'s');
  const before = splitByTime({ signal: 'traces', json: false, body, keep: (ns) => ns < T });
  assert.deepEqual(decodedSpans(before.body!), ['s1:old1', 's2:old2', 's3:old3']);
  const all = splitByTime({ signal: 'traces', json: false, body, keep: () => true });
  assert.equal(all.body, body, 'nothing dropped: the original buffer');
  assert.equal(splitByTime({ signal: 'traces', json: false, body, keep: () => false }).body, null);
  // An unknown field (99, varint 42) inside a kept span survives the re-encoding byte for byte.
  const Span = (root.opentelemetry.proto as unknown as { trace: { v1: { Span: Message } } }).trace.v1.Span;
  const spanBytes = (s: object): Buffer => Buffer.from(Span.encode(Span.fromObject(s)).finish());
  const wrap = (field: number, bytes: Buffer): Buffer => Buffer.concat([Buffer.from([field * 8 + 2, bytes.length]), bytes]); // lengths < 128 here
  const keptSpan = Buffer.concat([spanBytes(span('x', T)), Buffer.from([0x98, 0x06, 0x2a])]);
  const request = (spans: Buffer[]): Buffer => wrap(1, wrap(2, Buffer.concat(spans.map((b) => wrap(2, b)))));
  const kept = splitByTime({ signal: 'traces', json: false, body: request([keptSpan, spanBytes(span('y', 1n))]), keep: (ns) => ns >= T });
  assert.deepEqual(Buffer.from(kept.body!), request([keptSpan]));
  assert.throws(() => splitByTime({ signal: 'traces', json: false, body: Buffer.from([0x0a, 0x05, 0x01]), keep: () => true }), OtlpBodyError);
});

test('protobuf metrics: data points of every kind are cut by their time; a metric left without points goes', () => {
  const body = Metrics.encode(Metrics.fromObject({
    resourceMetrics: [{ scopeMetrics: [{ metrics: [
      { name: 'calls', sum: { aggregationTemporality: 1, isMonotonic: true, dataPoints: [point(T - 1n, 5), point(T, 7)] } },
      { name: 'lat', histogram: { aggregationTemporality: 1, dataPoints: [{ timeUnixNano: String(T + 1n), count: '3', bucketCounts: ['1', '2'], explicitBounds: [0.5] }] } },
      { name: 'old_only', gauge: { dataPoints: [point(T - 2n, 1)] } },
      { name: 'sum_q', summary: { dataPoints: [{ timeUnixNano: String(T - 3n), count: '1', sum: 2 }] } },
      { name: 'exp', exponentialHistogram: { aggregationTemporality: 1, dataPoints: [{ timeUnixNano: String(T + 2n), count: '1', scale: 1 }] } },
    ] }] }],
  })).finish();
  const split = splitByTime({ signal: 'metrics', json: false, body, keep: (ns) => ns >= T });
  assert.deepEqual([split.kept, split.dropped], [3, 3]);
  const out = Metrics.toObject(Metrics.decode(split.body!), { longs: String }) as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<{ name: string; sum?: { dataPoints: Array<{ asInt: string; timeUnixNano: string }>; isMonotonic: boolean } }> }> }> };
  const metrics = out.resourceMetrics[0]!.scopeMetrics[0]!.metrics;
  assert.deepEqual(metrics.map((m) => m.name), ['calls', 'lat', 'exp']);
  assert.deepEqual(metrics[0]!.sum!.dataPoints.map((p) => [p.timeUnixNano, p.asInt]), [[String(T), '7']]);
  assert.equal(metrics[0]!.sum!.isMonotonic, true, 'the fields beside the points are kept');
});

test('OTLP/JSON: the same cut; 64-bit times as strings (or numbers); untouched bodies are the same bytes', () => {
  const doc = {
    resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans: [{ name: 'old', startTimeUnixNano: String(T - 1n) }, { name: 'new', startTimeUnixNano: String(T) }] }, { spans: [{ name: 'older', startTimeUnixNano: 5 }] }] }],
  };
  const body = Buffer.from(JSON.stringify(doc));
  const split = splitByTime({ signal: 'traces', json: true, body, keep: (ns) => ns >= T });
  assert.deepEqual(JSON.parse(Buffer.from(split.body!).toString()), { resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans: [{ name: 'new', startTimeUnixNano: String(T) }] }] }] });
  assert.equal(splitByTime({ signal: 'traces', json: true, body, keep: () => true }).body, body);
  const metrics = Buffer.from(JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [
    { name: 'a', sum: { dataPoints: [{ timeUnixNano: String(T - 1n), asInt: '1' }, { timeUnixNano: String(T), asInt: '2' }] } },
    { name: 'b', histogram: { dataPoints: [{ timeUnixNano: String(T - 5n) }] } },
  ] }] }] }));
  const cut = JSON.parse(Buffer.from(splitByTime({ signal: 'metrics', json: true, body: metrics, keep: (ns) => ns < T }).body!).toString()) as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<{ name: string; sum?: { dataPoints: unknown[] } }> }> }> };
  assert.deepEqual(cut.resourceMetrics[0]!.scopeMetrics[0]!.metrics.map((m) => [m.name, (m.sum?.dataPoints ?? []).length]), [['a', 1], ['b', 0]]);
  assert.throws(() => splitByTime({ signal: 'metrics', json: true, body: Buffer.from('{'), keep: () => true }), OtlpBodyError);
});

test('windows: the first instance sends all; a candidate nothing; the cut gives the old one [.., T) and the new one [T, ..); a lost candidate undoes it', () => {
  const w = new GenerationWindows();
  assert.deepEqual(w.verdict(1), { kind: 'all' }, 'before any promotion the first instance is the only source');
  w.observe(1, [1]);
  assert.deepEqual(w.verdict(1), { kind: 'all' });
  assert.deepEqual(w.verdict(2), { kind: 'none' }, 'a candidate: its items are older than the cut to come');
  const at = w.cut(1, 2, 1_764_633_600_000.4);
  assert.equal(at, 1_764_633_600_001n * 1_000_000n, 'the first millisecond after the moment the candidate was proven');
  assert.deepEqual(w.verdict(1), { kind: 'window', window: { fromNs: MIN_NS, toNs: at } });
  assert.deepEqual(w.verdict(2), { kind: 'window', window: { fromNs: at, toNs: MAX_NS } });
  w.observe(2, [1, 2]);
  w.observe(2, [2]);
  assert.deepEqual(w.verdict(1), { kind: 'window', window: { fromNs: MIN_NS, toNs: at } }, 'kept after exit: a last request may still be arriving');

  const cutAgain = w.cut(2, 3, 1_764_633_700_000);
  w.observe(2, [2, 3]);
  w.observe(2, [2]); // candidate 3 went away without being promoted
  assert.deepEqual(w.verdict(2), { kind: 'window', window: { fromNs: at, toNs: MAX_NS } }, 'the old one keeps its whole window');
  assert.deepEqual(w.verdict(3), { kind: 'none' });
  assert.ok(cutAgain > at);

  // Generation 2 dies; 4 is promoted with no live predecessor: it takes over after the latest item forwarded.
  w.forwarded(at + 42n);
  w.observe(4, [4]);
  assert.deepEqual(w.verdict(4), { kind: 'window', window: { fromNs: at + 43n, toNs: MAX_NS } });
  assert.deepEqual(w.verdict(2), { kind: 'window', window: { fromNs: at, toNs: at + 43n } });
});

async function startUpstream(t: TestContext) {
  const received: Array<{ body: Buffer; headers: http.IncomingHttpHeaders }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks), headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }));
  return { received, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces` };
}

function post(url: string, body: Uint8Array, headers: http.OutgoingHttpHeaders = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('through the relay: a batch straddling the cut reaches the collector from each generation without the other one\'s items, gzip kept', async (t) => {
  const upstream = await startUpstream(t);
  const registry = new client.Registry();
  const cutMs = Number(T / 1_000_000n) - 1; // the cut lands on T
  const relay = await startOtlpRelay({ upstream: { traces: { url: upstream.url } }, registry, logger: captureLogger().logger, now: () => cutMs });
  t.after(() => relay.close());
  relay.observe(1, [1]);
  relay.cut(1, 2);
  relay.observe(2, [1, 2]);
  const body = tracesBody();
  assert.equal(await post(`${relay.endpointFor(1)}/v1/traces`, body), 200);
  assert.equal(await post(`${relay.endpointFor(2)}/v1/traces`, gzipSync(body), { 'content-encoding': 'gzip' }), 200);
  assert.equal(await post(`${relay.endpointFor(3)}/v1/traces`, body), 200, 'a generation with no window is answered and dropped');
  assert.equal(upstream.received.length, 2);
  assert.deepEqual(decodedSpans(upstream.received[0]!.body), ['s1:old1', 's2:old2', 's3:old3']);
  assert.equal(upstream.received[1]!.headers['content-encoding'], 'gzip');
  assert.deepEqual(decodedSpans(gunzipSync(upstream.received[1]!.body)), ['s1:atcut,new1']);
  assert.equal(Number(upstream.received[1]!.headers['content-length']), upstream.received[1]!.body.length);
  const items = (await registry.getSingleMetric('coral_agent_otlp_items_dropped_total')?.get())?.values.find((v) => v.labels.signal === 'traces')?.value;
  assert.equal(items, 5, '2 spans of generation 1 and 3 of generation 2 were the other one\'s');
  assert.equal(await post(`${relay.endpointFor(2)}/v1/traces`, Buffer.from([0x0a, 0x09, 0x01])), 400, 'a body that must be cut and cannot be read');
  assert.equal(await post(`${relay.endpointFor(2)}/v1/traces`, gzipSync(Buffer.alloc(9 * 1024 * 1024))), 400, 'gzip content without content-encoding is no protobuf');
  assert.equal(await post(`${relay.endpointFor(2)}/v1/traces`, gzipSync(Buffer.alloc(9 * 1024 * 1024)), { 'content-encoding': 'gzip' }), 413, 'inflating past 8 MiB');
  assert.equal(upstream.received.length, 2);
});
