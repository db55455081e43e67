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
import { reap } from './support/reap.js';
import { runNode } from './support/run-node.js';

const EVENT_MS = 5;
const EXPORT_MS = 200;
const SWAPS = 10;

interface DecodedSpan { spanId: Uint8Array; startTimeUnixNano: string | number }
interface DecodedRequest { resourceSpans: Array<{ resource?: { attributes: Array<{ key: string; value: { intValue?: string | number } }> }; scopeSpans: Array<{ spans: DecodedSpan[] }> }> }
const ExportTraceServiceRequest = (createRequire(import.meta.url)('@opentelemetry/otlp-transformer/build/src/generated/root.js') as {
  opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: { decode(b: Uint8Array): unknown; toObject(m: unknown, o: object): DecodedRequest } } } } } };
}).opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

/** A delta point of the double's event counter, as the collector got it (OTLP/JSON). */
interface Point { startNs: bigint; endNs: bigint; value: number }
interface JsonMetrics { resourceMetrics?: Array<{ scopeMetrics?: Array<{ metrics?: Array<{ name: string; sum?: { aggregationTemporality?: number; dataPoints?: Array<{ startTimeUnixNano: string; timeUnixNano: string; asInt: string }> } }> }> }> }

/** The user's collector: traces in protobuf (decoded with OpenTelemetry's generated code), metrics in OTLP/JSON. */
async function startReceiver(t: { after(fn: () => Promise<void>): void }) {
  const seen = new Map<number, number>();
  const pids = new Set<string>();
  const points = new Map<bigint, Point[]>();
  const temporalities = new Set<number | undefined>();
  const requests = { count: 0 };
  const server = http.createServer((req, res) => {
    requests.count += 1;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url === '/v1/metrics') {
        const doc = JSON.parse(body.toString('utf8')) as JsonMetrics;
        for (const metric of (doc.resourceMetrics ?? []).flatMap((rm) => rm.scopeMetrics ?? []).flatMap((sm) => sm.metrics ?? [])) {
          if (metric.name !== 'beyla_double.observed_events') continue;
          temporalities.add(metric.sum?.aggregationTemporality);
          for (const p of metric.sum?.dataPoints ?? []) {
            const endNs = BigInt(p.timeUnixNano);
            points.set(endNs, [...(points.get(endNs) ?? []), { startNs: BigInt(p.startTimeUnixNano), endNs, value: Number(p.asInt) }]);
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      const decoded = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { longs: String });
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
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { seen, pids, points, temporalities, requests, traces: `${base}/v1/traces`, metrics: `${base}/v1/metrics` };
}

/** Runs of consecutive numbers, for messages: "3..7 12". */
const ranges = (ks: number[]): string => ks.reduce<Array<[number, number]>>((acc, k) => {
  const tail = acc.at(-1);
  if (tail && tail[1] === k - 1) tail[1] = k;
  else acc.push([k, k]);
  return acc;
}, []).map(([a, b]) => (a === b ? `${a}` : `${a}..${b}`)).join(' ');

test('through 10 swaps the collector gets every span and every metric data point exactly once', async (t) => {
  const receiver = await startReceiver(t);
  const h = await createDaemonHarness(t, {
    debounce: '100ms',
    env: { FAKE_BEYLA_EVENTS_MS: String(EVENT_MS), FAKE_BEYLA_OTLP_INTERVAL_MS: String(EXPORT_MS) },
    dropIns: { 'web.yaml': dropIn('web', 3000) },
  });
  const yaml = await readFile(h.configPath, 'utf8');
  // A 2 s min_uptime: the generations overlap for about two seconds at every swap, as with a real Beyla loading its probes,
  // and the new one has collected at least one whole metric interval before its promotion even when Node is slow to boot.
  await writeFile(h.configPath, yaml
    .replace('  beyla:\n', [
      '  beyla:', '    env:',
      `      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: ${receiver.traces}`,
      `      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: ${receiver.metrics}`,
      '      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: http/json', '',
    ].join('\n'))
    .replace('min_uptime: 200ms', 'min_uptime: 2s'));
  await h.start();
  await h.waitForLivePorts('3000');
  await waitUntil('the first spans and points at the collector', () => receiver.seen.size > 0 && receiver.points.size > 0, 15_000);
  const from = h.mark();
  for (let i = 1; i <= SWAPS; i += 1) {
    const mark = h.mark();
    await h.writeDropIn(`svc-${i}.yaml`, dropIn(`svc-${i}`, 20_000 + i));
    const applied = await h.waitForReconcile(`swap ${i}`, { fromIndex: mark, deadlineMs: 30_000, match: (r) => r.result !== 'unchanged' });
    assert.equal(applied.result, 'swapped', applied.msg);
    const before = Math.max(...receiver.seen.keys());
    await waitUntil(`spans of generation ${i + 1}`, () => Math.max(...receiver.seen.keys()) > before + 2 * EXPORT_MS / EVENT_MS, 15_000);
  }
  const promotions = h.logs.slice(from).filter((r) => r.msg === 'Beyla generation promoted');
  const cuts = h.logs.slice(from).filter((r) => r.msg?.startsWith('OTLP cut'));
  assert.equal(promotions.length, SWAPS);
  assert.equal(cuts.length, SWAPS, 'one cut per promotion');
  const scrape = await h.scrape();
  const sum = (re: RegExp): number => [...scrape.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  t.diagnostic(`relay: ${sum(/^coral_agent_otlp_forwarded_total\{[^}]*\} (\d+)/gm)} requests forwarded, ${sum(/^coral_agent_otlp_dropped_total\{reason="inactive"\} (\d+)/gm)} wholly another generation's, ${sum(/^coral_agent_otlp_items_dropped_total\{[^}]*\} (\d+)/gm)} items taken out of straddling ones`);
  await h.stop(); // the last generation's final flush goes through the relay too

  const keys = [...receiver.seen.keys()].sort((a, b) => a - b);
  const first = keys[0]!;
  const last = keys.at(-1)!;
  const duplicated = keys.filter((k) => receiver.seen.get(k)! > 1);
  const missing: number[] = [];
  for (let k = first; k <= last; k += 1) if (!receiver.seen.has(k)) missing.push(k);
  const cutEvents = cuts.map((r) => Number(BigInt(String(r.cut_unix_ns)) / 1_000_000n / BigInt(EVENT_MS)) - first);
  t.diagnostic(`spans: ${keys.length} over events ${first}..${last} from ${receiver.pids.size} generations; cuts at events ${cutEvents.join(' ')}; duplicated [${ranges(duplicated.map((k) => k - first))}]; missing [${ranges(missing.map((k) => k - first))}]`);
  assert.ok(receiver.pids.size >= SWAPS, `spans came from ${receiver.pids.size} generations`);
  assert.deepEqual(duplicated, [], 'no span was exported twice');
  assert.deepEqual(missing, [], 'no span was lost');

  // Delta points: each interval once, each starting where the previous one ended, adding up to the events that happened.
  assert.deepEqual([...receiver.temporalities], [1], 'delta temporality');
  const ends = [...receiver.points.keys()].sort((a, b) => (a < b ? -1 : 1));
  const twice = ends.filter((e) => receiver.points.get(e)!.length > 1);
  const chain = ends.map((e) => receiver.points.get(e)![0]!);
  const gaps = chain.slice(1).filter((p, i) => p.startNs !== chain[i]!.endNs).map((p) => `${p.startNs} after ${chain[chain.indexOf(p) - 1]!.endNs}`);
  const total = chain.reduce((sum, p) => sum + p.value, 0);
  const truth = Number(chain.at(-1)!.endNs / 1_000_000n / BigInt(EVENT_MS)) - Number(chain[0]!.startNs / 1_000_000n / BigInt(EVENT_MS));
  t.diagnostic(`points: ${chain.length} intervals, ${twice.length} twice, ${gaps.length} gaps or overlaps, ${total} events counted of ${truth}`);
  assert.deepEqual(twice, [], 'no data point was exported twice');
  assert.deepEqual(gaps, [], 'no interval was lost or overlapped');
  assert.equal(total, truth, 'the points add up to the events that happened');
});

test('an OTLP export over gRPC makes the agent refuse to start, saying what to set', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000) } });
  const yaml = await readFile(h.configPath, 'utf8');
  await writeFile(h.configPath, yaml.replace('  beyla:\n', '  beyla:\n    env:\n      OTEL_EXPORTER_OTLP_ENDPOINT: http://collector.example:4317\n'));
  const child = spawn(process.execPath, [coralAgentPath(), 'run', '--config', h.configPath], { cwd: h.dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  t.after(() => reap(child));
  let said = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { said += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { said += c; });
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 65, `EX_DATAERR, as for any invalid configuration; output:\n${said}`);
  assert.match(said, /uses gRPC; coral-agent relays OTLP over HTTP only/);
  assert.match(said, /OTEL_EXPORTER_OTLP_PROTOCOL: http\/protobuf/);
  assert.deepEqual(await h.leftoverBeyla(), []);
});

test('coral-agent check reports a gRPC export at the setting that asks for it, file:line:col, exit 65', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000) } });
  const yaml = await readFile(h.configPath, 'utf8');
  const cases: Array<[string, RegExp]> = [
    // Line 10: the protocol variable (beyla: on line 7, env: on 8, the endpoint on 9).
    ['      OTEL_EXPORTER_OTLP_ENDPOINT: http://collector.example:4318\n      OTEL_EXPORTER_OTLP_PROTOCOL: grpc\n', /coral\.yaml:10:36: .*uses gRPC; coral-agent relays OTLP over HTTP only/],
    // No protocol, port 4317: Beyla assumes gRPC; the endpoint is where to look.
    ['      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: http://collector.example:4317/v1/traces\n', /coral\.yaml:9:43: .*uses gRPC.*Beyla assumes gRPC for port 4317/],
  ];
  for (const [env, where] of cases) {
    await writeFile(h.configPath, yaml.replace('  beyla:\n', `  beyla:\n    env:\n${env}`));
    const run = await runNode(coralAgentPath(), ['check', '--config', h.configPath]);
    assert.equal(run.code, 65, `${run.stdout}${run.stderr}`);
    assert.match(run.stderr, where);
    assert.match(`${run.stdout}${run.stderr}`, /http\/protobuf/, 'the hint says what to set');
  }
});

test('a changed OTLP endpoint in coral.yaml takes effect at the next apply: the relay starts if it was off, then forwards to the new collector', async (t) => {
  const first = await startReceiver(t);
  const second = await startReceiver(t);
  const h = await createDaemonHarness(t, {
    debounce: '100ms',
    env: { FAKE_BEYLA_EVENTS_MS: String(EVENT_MS), FAKE_BEYLA_OTLP_INTERVAL_MS: String(EXPORT_MS) },
    dropIns: { 'web.yaml': dropIn('web', 3000) },
  });
  const yaml = await readFile(h.configPath, 'utf8');
  const withEndpoint = (url: string): string => yaml.replace('  beyla:\n', `  beyla:\n    env:\n      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: ${url}\n`);
  await h.start(); // no OTLP export configured: no relay
  await h.waitForLivePorts('3000');
  const apply = async (text: string, what: string): Promise<void> => {
    const mark = h.mark();
    await writeFile(h.configPath, text);
    const applied = await h.waitForReconcile(what, { fromIndex: mark, deadlineMs: 30_000, match: (r) => r.result !== 'unchanged' });
    assert.equal(applied.result, 'swapped', applied.msg);
  };
  await apply(withEndpoint(first.traces), 'the endpoint added');
  await waitUntil('spans at the first collector', () => first.seen.size > 2 * EXPORT_MS / EVENT_MS, 15_000);
  await apply(withEndpoint(second.traces), 'the endpoint changed');
  const atSwap = first.seen.size;
  await waitUntil('spans at the second collector', () => second.seen.size > 2 * EXPORT_MS / EVENT_MS, 15_000);
  const forwarded = [...(await h.scrape()).matchAll(/^coral_agent_otlp_forwarded_total\{[^}]*signal="traces"[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  assert.ok(forwarded >= first.requests.count && forwarded > 0, `the spans came through the relay (${forwarded} forwarded, ${first.requests.count} at the first collector)`);
  await h.stop();
  assert.equal(first.seen.size, atSwap, 'nothing more reached the first collector once the change was applied');
  const latestAtFirst = Math.max(...first.seen.keys());
  assert.ok(Math.min(...second.seen.keys()) > latestAtFirst - 2 * EXPORT_MS / EVENT_MS, 'the second collector got what came after');
  assert.deepEqual([...first.seen.values(), ...second.seen.values()].filter((n) => n > 1), [], 'nothing twice');
});
