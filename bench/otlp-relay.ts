// Benchmark: the OTLP relay's added latency per request (whole batches, and batches cut between two generations) and its memory under a 1,000 requests/s burst.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface OtlpRelayBenchOptions {
  /** Requests a second, open loop. Default 1000. */
  rate?: number;
  /** Length of each burst (one direct, one through the relay). Default 3000 ms. */
  burstMs?: number;
  /** Spans in each request (a Beyla batch, about 100 bytes each). Default 40. */
  spans?: number;
}

/** The cut the relay child takes (its clock is fixed there): bodies are built around it. */
const CUT_MS = 1_700_000_000_000;
const CUT_NS = BigInt(CUT_MS + 1) * 1_000_000n;

interface TraceMessage { encode(m: unknown): { finish(): Uint8Array }; fromObject(o: object): unknown }
const Traces = (createRequire(import.meta.url)('@opentelemetry/otlp-transformer/build/src/generated/root.js') as {
  opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: TraceMessage } } } } };
}).opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

/** An ExportTraceServiceRequest of `spans` spans starting `firstNs` apart by 1 ms. */
function tracesBody(spans: number, firstNs: bigint): Buffer {
  const list = Array.from({ length: spans }, (_, i) => {
    const start = firstNs + BigInt(i) * 1_000_000n;
    return {
      traceId: Buffer.alloc(16, i + 1), spanId: Buffer.alloc(8, i + 1), name: 'GET /api/orders/{id}', kind: 2,
      startTimeUnixNano: String(start), endTimeUnixNano: String(start + 4_000_000n),
      attributes: [{ key: 'http.request.method', value: { stringValue: 'GET' } }, { key: 'http.response.status_code', value: { intValue: '200' } }, { key: 'server.port', value: { intValue: '8080' } }],
    };
  });
  return Buffer.from(Traces.encode(Traces.fromObject({
    resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'orders' } }] }, scopeSpans: [{ scope: { name: 'github.com/grafana/beyla' }, spans: list }] }],
  })).finish());
}

const relayModule = fileURLToPath(new URL('../src/otlp/start-otlp-relay.js', import.meta.url));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? 0;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

async function startUpstream(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

/** Sends `rate` requests a second for `burstMs` (open loop); resolves with each request's latency in ms. */
async function burst(url: string, body: Buffer, opts: Required<OtlpRelayBenchOptions>): Promise<{ latencies: number[]; failures: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const latencies: number[] = [];
  let failures = 0;
  const pending: Promise<void>[] = [];
  const one = (): Promise<void> => new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
        else failures += 1;
        resolve();
      });
    });
    req.on('error', () => { failures += 1; resolve(); });
    req.end(body);
  });
  const total = Math.round((opts.rate * opts.burstMs) / 1000);
  const perTick = Math.max(1, Math.round(opts.rate / 100));
  const startedAt = Date.now();
  await new Promise<void>((resolve) => {
    let sent = 0;
    const tick = (): void => {
      // Catch up to the schedule: open loop, whatever the answers' pace.
      const due = Math.min(total, Math.floor(((Date.now() - startedAt) / 1000) * opts.rate) + perTick);
      while (sent < due) {
        pending.push(one());
        sent += 1;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 10);
    };
    tick();
  });
  await Promise.all(pending);
  agent.destroy();
  return { latencies, failures };
}

interface RelayChild {
  port: number;
  /** Peak RSS and heap since the last sample, and the CPU time the relay process has used so far (µs). */
  sample: () => Promise<{ rss: number; heap: number; cpuUs: number }>;
  stop: () => Promise<void>;
}

/** The relay in a process of its own, so its memory is its own: prints its port, then its peak RSS and heap when asked. */
async function startRelayChild(upstreamUrl: string): Promise<RelayChild> {
  const script = `
    const { startOtlpRelay } = await import(${JSON.stringify(relayModule)});
    const { default: client } = await import('prom-client');
    const { createLogger } = await import(${JSON.stringify(fileURLToPath(new URL('../src/log.js', import.meta.url)))});
    const relay = await startOtlpRelay({
      upstream: { traces: { url: ${JSON.stringify(`${upstreamUrl}/v1/traces`)} } },
      registry: new client.Registry(),
      logger: createLogger({ level: 'warn', env: {} }),
      now: () => ${CUT_MS},
    });
    // Generation 2 was active; 3 was promoted at the cut: 2 keeps its items before it, 3 those from it on.
    relay.observe(2, [2]);
    relay.cut(2, 3);
    relay.observe(3, [2, 3]);
    let peak = { rss: 0, heap: 0 };
    const take = () => { const m = process.memoryUsage(); peak = { rss: Math.max(peak.rss, m.rss), heap: Math.max(peak.heap, m.heapUsed) }; };
    setInterval(take, 20).unref();
    process.stdout.write(JSON.stringify({ port: relay.port }) + '\\n');
    process.stdin.setEncoding('utf8').on('data', () => { take(); const c = process.cpuUsage(); process.stdout.write(JSON.stringify({ ...peak, cpuUs: c.user + c.system }) + '\\n'); peak = { rss: 0, heap: 0 }; });
    process.stdin.on('end', () => relay.close().then(() => process.exit(0)));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'], cwd: fileURLToPath(new URL('../..', import.meta.url)) });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, number>> => JSON.parse(String((await lines.next()).value)) as Record<string, number>;
  const { port } = await next();
  return {
    port: port!,
    sample: async () => {
      child.stdin!.write('sample\n');
      const { rss = 0, heap = 0, cpuUs = 0 } = await next();
      return { rss, heap, cpuUs };
    },
    stop: async () => {
      child.stdin!.end();
      await new Promise((r) => child.once('exit', r));
    },
  };
}

export async function run(options: OtlpRelayBenchOptions = {}): Promise<Record<string, number>> {
  const opts = { rate: options.rate ?? 1000, burstMs: options.burstMs ?? 3000, spans: options.spans ?? 40 };
  const upstream = await startUpstream();
  const relay = await startRelayChild(upstream.url);
  const lapMs = BigInt(opts.spans) * 1_000_000n;
  /** Wholly before the cut: forwarded as they are (read, not re-encoded). */
  const whole = tracesBody(opts.spans, CUT_NS - 10n * lapMs);
  /** Half before, half after the cut: re-encoded without the other half. */
  const straddling = tracesBody(opts.spans, CUT_NS - lapMs / 2n);
  const viaRelay = (generation: number): string => `http://127.0.0.1:${relay.port}/g/${generation}/v1/traces`;
  try {
    // Warm-up of every path (the relay's first second of 1,000 requests/s is its JIT's).
    await burst(`${upstream.url}/v1/traces`, whole, { ...opts, burstMs: 500 });
    await burst(viaRelay(2), whole, { ...opts, burstMs: 1000 });
    await burst(viaRelay(3), straddling, { ...opts, burstMs: 1000 });
    // Each burst after a pause, so none pays for the backlog of the one before (the bench's own process sends and receives).
    const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 1000));
    const idle = await relay.sample();
    const direct = await burst(`${upstream.url}/v1/traces`, whole, opts);
    await settle();
    const before = await relay.sample();
    const relayed = await burst(viaRelay(2), whole, opts);
    const peak = await relay.sample();
    await settle();
    const beforeSplit = await relay.sample();
    const split = await burst(viaRelay(3), straddling, opts);
    const splitPeak = await relay.sample();
    /** The relay's own CPU per request: what it costs whatever the machine's load does to latency. */
    const cpuPerRequestUs = (from: { cpuUs: number }, to: { cpuUs: number }, n: number): number => Math.round((to.cpuUs - from.cpuUs) / Math.max(n, 1));
    const mib = (bytes: number): number => round2(bytes / 1024 / 1024);
    const p = (values: number[], q: number): number => round2(percentile(values, q));
    return {
      body_bytes: whole.length,
      requests: relayed.latencies.length + split.latencies.length,
      failures: direct.failures + relayed.failures + split.failures,
      direct_p50_ms: p(direct.latencies, 0.5),
      relayed_p50_ms: p(relayed.latencies, 0.5),
      added_p50_ms: round2(percentile(relayed.latencies, 0.5) - percentile(direct.latencies, 0.5)),
      split_p50_ms: p(split.latencies, 0.5),
      split_added_p50_ms: round2(percentile(split.latencies, 0.5) - percentile(direct.latencies, 0.5)),
      direct_p99_ms: p(direct.latencies, 0.99),
      relayed_p99_ms: p(relayed.latencies, 0.99),
      split_p99_ms: p(split.latencies, 0.99),
      p50_ratio: round2(percentile(relayed.latencies, 0.5) / Math.max(percentile(direct.latencies, 0.5), 0.001)),
      relay_cpu_us_per_request: cpuPerRequestUs(before, peak, relayed.latencies.length),
      relay_split_cpu_us_per_request: cpuPerRequestUs(beforeSplit, splitPeak, split.latencies.length),
      relay_idle_rss_mib: mib(idle.rss),
      relay_burst_rss_mib: mib(peak.rss),
      relay_burst_rss_growth_mib: mib(peak.rss - idle.rss),
      relay_burst_heap_mib: mib(peak.heap),
      relay_split_burst_rss_mib: mib(splitPeak.rss),
      relay_split_burst_heap_mib: mib(splitPeak.heap),
    };
  } finally {
    await relay.stop();
    await upstream.close();
  }
}
