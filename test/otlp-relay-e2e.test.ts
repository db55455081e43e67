// A real OTLP/HTTP receiver (decoding with OpenTelemetry's generated protobuf code) behind the agent's relay through 10 Beyla swaps.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { coralAgentPath, createDaemonHarness, dropIn, waitUntil } from './support/daemon-harness.js';

const EVENT_MS = 5;
const EXPORT_MS = 200;
const SWAPS = 10;

interface DecodedSpan { spanId: Uint8Array; startTimeUnixNano: string | number }
interface DecodedRequest { resourceSpans: Array<{ resource?: { attributes: Array<{ key: string; value: { intValue?: string | number } }> }; scopeSpans: Array<{ spans: DecodedSpan[] }> }> }
const ExportTraceServiceRequest = (createRequire(import.meta.url)('@opentelemetry/otlp-transformer/build/src/generated/root.js') as {
  opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: { decode(b: Uint8Array): unknown; toObject(m: unknown, o: object): DecodedRequest } } } } } };
}).opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

/** The user's collector: decodes every export request and counts each event's span. */
async function startReceiver(t: { after(fn: () => Promise<void>): void }) {
  const seen = new Map<number, number>();
  const pids = new Set<string>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const decoded = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(Buffer.concat(chunks)), { longs: String });
      for (const rs of decoded.resourceSpans) {
        pids.add(String(rs.resource?.attributes.find((a) => a.key === 'process.pid')?.value.intValue));
        for (const span of rs.scopeSpans.flatMap((s) => s.spans)) {
          const k = Number.parseInt(Buffer.from(span.spanId).toString('hex'), 16);
          seen.set(k, (seen.get(k) ?? 0) + 1);
        }
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }));
  return { seen, pids, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces` };
}

test('through 10 swaps the collector gets each span once, from one generation at a time; none is lost while the relay is up', async (t) => {
  const receiver = await startReceiver(t);
  const h = await createDaemonHarness(t, {
    debounce: '100ms',
    env: { FAKE_BEYLA_EVENTS_MS: String(EVENT_MS), FAKE_BEYLA_OTLP_INTERVAL_MS: String(EXPORT_MS) },
    dropIns: { 'web.yaml': dropIn('web', 3000) },
  });
  const yaml = await readFile(h.configPath, 'utf8');
  // A 1 s min_uptime: the two generations overlap for about a second at every swap, as with a real Beyla loading its probes.
  await writeFile(h.configPath, yaml
    .replace('  beyla:\n', `  beyla:\n    env:\n      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: ${receiver.url}\n`)
    .replace('min_uptime: 200ms', 'min_uptime: 1s'));
  await h.start();
  await h.waitForLivePorts('3000');
  await waitUntil('the first spans at the collector', () => receiver.seen.size > 0, 15_000);
  const from = h.mark();
  for (let i = 1; i <= SWAPS; i += 1) {
    const mark = h.mark();
    await h.writeDropIn(`svc-${i}.yaml`, dropIn(`svc-${i}`, 20_000 + i));
    const applied = await h.waitForReconcile(`swap ${i}`, { fromIndex: mark, deadlineMs: 30_000, match: (r) => r.result !== 'unchanged' });
    assert.equal(applied.result, 'swapped', applied.msg);
    const before = Math.max(...receiver.seen.keys());
    await waitUntil(`spans of generation ${i + 1}`, () => Math.max(...receiver.seen.keys()) > before + 2 * EXPORT_MS / EVENT_MS, 15_000);
  }
  const promotions = h.logs.slice(from).filter((r) => r.msg === 'Beyla generation promoted').map((r) => Date.parse(String(r.time)));
  assert.equal(promotions.length, SWAPS);
  await h.stop();

  const keys = [...receiver.seen.keys()].sort((a, b) => a - b);
  const first = keys[0]!;
  const last = keys.at(-1)!;
  const duplicated = keys.filter((k) => receiver.seen.get(k)! > 1);
  const missing: number[] = [];
  for (let k = first; k <= last; k += 1) if (!receiver.seen.has(k)) missing.push(k);
  // The relay does not read spans: it switches at the promotion. Only the one batch both instances
  // were sending at that instant can be lost or doubled: its events lie within one export interval before it.
  const nearPromotion = (k: number): boolean => promotions.some((p) => k * EVENT_MS <= p && k * EVENT_MS > p - 2 * EXPORT_MS);
  const ranges = (ks: number[]): string => ks.reduce<Array<[number, number]>>((acc, k) => {
    const tail = acc.at(-1);
    if (tail && tail[1] === k - 1) tail[1] = k;
    else acc.push([k, k]);
    return acc;
  }, []).map(([a, b]) => `${a - first}..${b - first}`).join(' ');
  t.diagnostic(`promotions at events ${promotions.map((p) => Math.floor(p / EVENT_MS) - first).join(' ')}; duplicated ${ranges(duplicated)}; missing ${ranges(missing)}`);
  t.diagnostic(`swaps ${SWAPS}, generations seen ${receiver.pids.size}, spans ${keys.length} over events ${first}..${last}, duplicated ${duplicated.length}, missing ${missing.length}`);
  assert.ok(receiver.pids.size >= SWAPS, `spans came from ${receiver.pids.size} generations`);
  assert.deepEqual(duplicated.filter((k) => !nearPromotion(k)), [], 'no span was exported twice (away from the promotion instant)');
  assert.deepEqual(missing.filter((k) => !nearPromotion(k)), [], 'no span was lost (away from the promotion instant)');
  assert.ok(duplicated.length + missing.length <= SWAPS * (EXPORT_MS / EVENT_MS), 'at most one batch per swap');
});

test('an OTLP export over gRPC makes the agent refuse to start, saying what to set', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000) } });
  const yaml = await readFile(h.configPath, 'utf8');
  await writeFile(h.configPath, yaml.replace('  beyla:\n', '  beyla:\n    env:\n      OTEL_EXPORTER_OTLP_ENDPOINT: http://collector.example:4317\n'));
  const child = spawn(process.execPath, [coralAgentPath(), 'run', '--config', h.configPath], { cwd: h.dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  let said = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { said += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { said += c; });
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 65, `EX_DATAERR, as for any invalid configuration; output:\n${said}`);
  assert.match(said, /uses gRPC; coral-agent relays OTLP over HTTP only/);
  assert.match(said, /OTEL_EXPORTER_OTLP_PROTOCOL: http\/protobuf/);
  assert.deepEqual(await h.leftoverBeyla(), []);
});
