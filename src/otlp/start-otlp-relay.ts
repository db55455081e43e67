// The OTLP/HTTP relay: one loopback endpoint per Beyla generation; only the active one's requests reach the user's collector.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import type { Logger } from '../log.js';
import type { Registry } from 'prom-client';
import { gzipSync } from 'node:zlib';
import { GenerationWindows } from './generation-windows.js';
import { gunzipAtMost } from './gunzip-at-most.js';
import { OtlpBodyError, splitByTime } from './split-by-time.js';

export type OtlpSignal = 'traces' | 'metrics' | 'logs';

/** Where one signal goes: the full URL and, for https, the TLS material as PEM text. */
export interface UpstreamTarget {
  url: string;
  ca?: string;
  cert?: string;
  key?: string;
  /** otel_*_export.insecure_skip_verify: do not verify the collector's certificate. */
  insecureSkipVerify?: boolean;
}

export interface OtlpRelayOptions {
  /** Upstream per signal (e.g. https://collector:4318/v1/traces); a signal without one answers 404. */
  upstream: Partial<Record<OtlpSignal, UpstreamTarget>>;
  registry: Registry;
  logger: Logger;
  /** Request bodies being forwarded at once, by declared length (a body without one counts as maxBodyBytes). Default 32 MiB. */
  maxInFlightBytes?: number;
  /** Largest body accepted (413 above), also once decompressed. Default 8 MiB. */
  maxBodyBytes?: number;
  /** Deadline of one upstream exchange (504 after it). Default 10 s. */
  upstreamTimeoutMs?: number;
  now?: () => number;
}

export interface OtlpRelay {
  port: number;
  /** The OTLP base endpoint for an instance: its requests go to `<base>/v1/<signal>`. */
  endpointFor(generation: number): string;
  /** The promotion moment (both alive, the candidate proven): items from the cut on are the new generation's. */
  cut(from: number, to: number): void;
  /** The supervisor's view after each change: the active generation (0: none) and the generations running. */
  observe(active: number, running: readonly number[]): void;
  /** New upstreams (a changed configuration); requests already forwarded finish on the old ones. */
  setUpstream(upstream: Partial<Record<OtlpSignal, UpstreamTarget>>): void;
  /** Bytes of request bodies being forwarded now. */
  inFlightBytes(): number;
  close(): Promise<void>;
}

type DropReason = 'inactive' | 'overloaded' | 'too_large' | 'upstream_error' | 'timeout' | 'client_error';

interface RelayMetrics {
  forwarded: client.Counter<'signal' | 'code'>;
  dropped: client.Counter<'reason'>;
  itemsDropped: client.Counter<'signal'>;
  latency: client.Histogram<'signal'>;
}

function createRelayMetrics(registry: Registry): RelayMetrics {
  return {
    forwarded: new client.Counter({ name: 'coral_agent_otlp_forwarded_total', help: "OTLP requests forwarded to the user's endpoint (whole, or without the items another Beyla generation sends), by signal and upstream status code.", labelNames: ['signal', 'code'], registers: [registry] }),
    dropped: new client.Counter({ name: 'coral_agent_otlp_dropped_total', help: 'OTLP requests not forwarded: inactive (every item is another generation\'s, answered with success), overloaded (503), too_large (413), upstream_error (502), timeout (504), client_error.', labelNames: ['reason'], registers: [registry] }),
    itemsDropped: new client.Counter({ name: 'coral_agent_otlp_items_dropped_total', help: 'Spans and metric data points taken out of a forwarded OTLP request because the other Beyla generation of a swap sends them.', labelNames: ['signal'], registers: [registry] }),
    latency: new client.Histogram({ name: 'coral_agent_otlp_upstream_duration_seconds', help: "Time from forwarding an OTLP request to the user's endpoint answering.", labelNames: ['signal'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
  };
}

const PATH = /^\/g\/(\d+)\/v1\/(traces|metrics|logs)$/;
/** Hop-by-hop headers (RFC 9110 7.6.1) and the ones the upstream connection sets itself. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'proxy-authorization', 'proxy-authenticate']);

function forwardHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name, value]) => value !== undefined && !HOP.has(name)));
}

/** An OTLP success with nothing partial: an empty Export*ServiceResponse, in the request's encoding. */
function answerSuccess(req: http.IncomingMessage, res: http.ServerResponse): void {
  const json = (req.headers['content-type'] ?? '').includes('json');
  res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
}

function answer(res: http.ServerResponse, status: number, message: string, extra: http.OutgoingHttpHeaders = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...extra }).end(`${message}\n`);
}

/** One https.Agent per upstream's TLS material; plain http shares one. */
function agentFor(target: UpstreamTarget): http.Agent {
  if (!target.url.toLowerCase().startsWith('https:')) return new http.Agent({ keepAlive: true, maxSockets: 64 });
  return new https.Agent({ keepAlive: true, maxSockets: 64, ...(target.ca ? { ca: target.ca } : {}), ...(target.cert ? { cert: target.cert } : {}), ...(target.key ? { key: target.key } : {}), ...(target.insecureSkipVerify ? { rejectUnauthorized: false } : {}) });
}

interface Route { target: UpstreamTarget; url: URL; agent: http.Agent }

/** Reads the whole body (at most `limit` bytes): 'too_large' when it is larger, 'gone' when the client went away. */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | 'too_large' | 'gone'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        resolve('too_large');
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => resolve('gone'));
    req.on('aborted', () => resolve('gone'));
  });
}

export async function startOtlpRelay(opts: OtlpRelayOptions): Promise<OtlpRelay> {
  const maxInFlight = opts.maxInFlightBytes ?? 32 * 1024 * 1024;
  const maxBody = opts.maxBodyBytes ?? 8 * 1024 * 1024;
  const timeoutMs = opts.upstreamTimeoutMs ?? 10_000;
  const now = opts.now ?? Date.now;
  const log = opts.logger.child({ component: 'otlp-relay' });
  const metrics = createRelayMetrics(opts.registry);
  const windows = new GenerationWindows();
  let routes = new Map<OtlpSignal, Route>();
  const retired = new Set<http.Agent>();
  let inFlight = 0;

  const setUpstream = (upstream: OtlpRelayOptions['upstream']): void => {
    const next = new Map<OtlpSignal, Route>();
    for (const [signal, target] of Object.entries(upstream) as Array<[OtlpSignal, UpstreamTarget | undefined]>) {
      if (target) next.set(signal, { target, url: new URL(target.url), agent: agentFor(target) });
    }
    for (const route of routes.values()) {
      // Requests on the old agent end within the upstream deadline; its sockets are closed after that.
      retired.add(route.agent);
      setTimeout(() => {
        route.agent.destroy();
        retired.delete(route.agent);
      }, timeoutMs + 1000).unref();
    }
    routes = next;
  };
  setUpstream(opts.upstream);

  const drop = (req: http.IncomingMessage, reason: DropReason): void => {
    metrics.dropped.inc({ reason });
    req.resume(); // read and discard: never buffered
  };

  /** The body to forward for this generation: all of it, the part inside its window, or null (another generation sends it all). */
  const select = async (req: http.IncomingMessage, signal: OtlpSignal, generation: number, raw: Buffer): Promise<Buffer | null> => {
    const verdict = windows.verdict(generation);
    if (verdict.kind === 'none') return null;
    if (signal === 'logs') return raw; // not split: the active generation's go through
    const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip') throw new OtlpBodyError(`content-encoding ${encoding} is not supported (OTLP uses gzip or none)`);
    const json = String(req.headers['content-type'] ?? '').includes('json');
    if (verdict.kind === 'all') {
      // Nothing to cut: read only for the latest item time (a later promotion with no live predecessor starts there).
      try {
        const split = splitByTime({ signal, json, body: encoding === 'gzip' ? await gunzipAtMost(raw, maxBody) : raw, keep: () => true });
        windows.forwarded(split.maxKeptNs);
      } catch (error) {
        if (!(error instanceof OtlpBodyError)) throw error; // the collector judges a body the relay cannot read
      }
      return raw;
    }
    const plain = encoding === 'gzip' ? await gunzipAtMost(raw, maxBody) : raw;
    const { window } = verdict;
    const split = splitByTime({ signal, json, body: plain, keep: (ns) => ns >= window.fromNs && ns < window.toNs });
    if (split.kept > 0) windows.forwarded(split.maxKeptNs);
    if (split.dropped > 0) metrics.itemsDropped.inc({ signal }, split.dropped);
    if (split.body === null) return null;
    if (split.body === plain) return raw;
    return encoding === 'gzip' ? gzipSync(split.body) : Buffer.from(split.body);
  };

  const forward = (res: http.ServerResponse, req: http.IncomingMessage, signal: OtlpSignal, route: Route, body: Buffer): void => {
    const started = process.hrtime.bigint();
    const target = route.url;
    const transport = target.protocol === 'https:' ? https : http;
    const upstream = transport.request(target, {
      method: 'POST',
      headers: { ...forwardHeaders(req.headers), 'content-length': String(body.length) },
      agent: route.agent,
      timeout: timeoutMs,
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.on('timeout', () => {
      metrics.dropped.inc({ reason: 'timeout' });
      upstream.destroy();
      answer(res, 504, `the OTLP endpoint ${target.origin} did not answer within ${timeoutMs} ms`);
    });
    upstream.on('error', (error) => {
      if (res.headersSent || res.writableEnded) return;
      metrics.dropped.inc({ reason: 'upstream_error' });
      log.warn({ err: error, upstream: target.origin, signal }, 'OTLP endpoint unreachable');
      answer(res, 502, `the OTLP endpoint ${target.origin} failed: ${error.message}`);
    });
    upstream.on('response', (answerFromUpstream) => {
      if (res.headersSent) {
        answerFromUpstream.resume();
        return;
      }
      metrics.latency.observe({ signal }, Number(process.hrtime.bigint() - started) / 1e9);
      metrics.forwarded.inc({ signal, code: String(answerFromUpstream.statusCode ?? 0) });
      // Status, headers and body of the upstream go back to Beyla as they are, so its own retry logic works.
      res.writeHead(answerFromUpstream.statusCode ?? 502, forwardHeaders(answerFromUpstream.headers));
      answerFromUpstream.pipe(res);
    });
    upstream.end(body);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, generation: number, signal: OtlpSignal, route: Route, reserved: number): Promise<void> => {
    inFlight += reserved;
    try {
      const raw = await readBody(req, reserved);
      if (raw === 'gone') {
        metrics.dropped.inc({ reason: 'client_error' });
        return;
      }
      if (raw === 'too_large') {
        metrics.dropped.inc({ reason: 'too_large' });
        answer(res, 413, `OTLP body over ${reserved} bytes`);
        return;
      }
      let body: Buffer | null;
      try {
        body = await select(req, signal, generation, raw);
      } catch (error) {
        if (!(error instanceof OtlpBodyError)) throw error;
        metrics.dropped.inc({ reason: error.tooLarge ? 'too_large' : 'client_error' });
        answer(res, error.tooLarge ? 413 : 400, error.message);
        return;
      }
      if (body === null) {
        metrics.dropped.inc({ reason: 'inactive' });
        answerSuccess(req, res);
        return;
      }
      await new Promise<void>((resolve) => {
        res.on('close', resolve);
        forward(res, req, signal, route, body);
      });
    } finally {
      inFlight -= reserved;
    }
  };

  const server = http.createServer((req, res) => {
    const match = PATH.exec((req.url ?? '').split('?')[0] ?? '');
    if (!match) {
      drop(req, 'client_error');
      answer(res, 404, 'not an OTLP/HTTP path of this relay (POST /g/<generation>/v1/traces|metrics|logs)');
      return;
    }
    if (req.method !== 'POST') {
      drop(req, 'client_error');
      answer(res, 405, 'OTLP/HTTP takes POST', { allow: 'POST' });
      return;
    }
    const generation = Number(match[1]);
    const signal = match[2] as OtlpSignal;
    const route = routes.get(signal);
    if (windows.verdict(generation).kind === 'none') {
      drop(req, 'inactive');
      req.on('end', () => answerSuccess(req, res));
      return;
    }
    if (!route) {
      drop(req, 'client_error');
      answer(res, 404, `no OTLP ${signal} endpoint is configured`);
      return;
    }
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (declared !== undefined && (!Number.isSafeInteger(declared) || declared > maxBody)) {
      drop(req, 'too_large');
      answer(res, 413, `OTLP body over ${maxBody} bytes`);
      return;
    }
    const reserved = declared ?? maxBody;
    if (inFlight + reserved > maxInFlight) {
      drop(req, 'overloaded');
      answer(res, 503, 'the OTLP relay is at its in-flight limit; retry', { 'retry-after': '1' });
      return;
    }
    void handle(req, res, generation, signal, route, reserved).catch((error: unknown) => {
      log.error({ err: error, signal }, 'OTLP relay request failed');
      answer(res, 500, 'the OTLP relay failed on this request');
    });
  });
  server.on('clientError', (_error, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  log.info({ port, upstream: Object.fromEntries([...routes].map(([signal, r]) => [signal, r.target.url])) }, 'OTLP relay listening');
  return {
    port,
    endpointFor: (generation) => `http://127.0.0.1:${port}/g/${generation}`,
    cut: (from, to) => {
      const atNs = windows.cut(from, to, now());
      log.info({ from_generation: from, to_generation: to, cut_unix_ns: String(atNs) }, 'OTLP cut: items from here on are the new generation\'s');
    },
    observe: (active, running) => windows.observe(active, running),
    setUpstream: (upstream) => {
      setUpstream(upstream);
      log.info({ upstream: Object.fromEntries([...routes].map(([signal, r]) => [signal, r.target.url])) }, 'OTLP relay upstream changed');
    },
    inFlightBytes: () => inFlight,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      for (const route of routes.values()) route.agent.destroy();
      for (const agent of retired) agent.destroy();
    }),
  };
}
