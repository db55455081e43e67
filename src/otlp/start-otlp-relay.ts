// The OTLP/HTTP relay: one loopback endpoint per Beyla generation; only the active one's requests reach the user's collector.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import type { Logger } from '../log.js';
import type { Registry } from 'prom-client';

export type OtlpSignal = 'traces' | 'metrics' | 'logs';

export interface OtlpRelayOptions {
  /** Full upstream URL per signal (e.g. https://collector:4318/v1/traces); a signal without one answers 404. */
  upstream: Partial<Record<OtlpSignal, string>>;
  /** Whether requests of this generation are forwarded (the active instance's) or answered and dropped. */
  isActive: (generation: number) => boolean;
  registry: Registry;
  logger: Logger;
  /** Request bodies being forwarded at once, by declared length (a body without one counts as maxBodyBytes). Default 32 MiB. */
  maxInFlightBytes?: number;
  /** Largest body accepted (413 above). Default 8 MiB. */
  maxBodyBytes?: number;
  /** Deadline of one upstream exchange (504 after it). Default 10 s. */
  upstreamTimeoutMs?: number;
}

export interface OtlpRelay {
  port: number;
  /** The OTLP base endpoint for an instance: its requests go to `<base>/v1/<signal>`. */
  endpointFor(generation: number): string;
  /** Bytes of request bodies being forwarded now. */
  inFlightBytes(): number;
  close(): Promise<void>;
}

type DropReason = 'inactive' | 'overloaded' | 'too_large' | 'upstream_error' | 'timeout' | 'client_error';

interface RelayMetrics {
  forwarded: client.Counter<'signal' | 'code'>;
  dropped: client.Counter<'reason'>;
  latency: client.Histogram<'signal'>;
}

function createRelayMetrics(registry: Registry): RelayMetrics {
  return {
    forwarded: new client.Counter({ name: 'coral_agent_otlp_forwarded_total', help: "OTLP requests of the active Beyla forwarded to the user's endpoint, by signal and upstream status code.", labelNames: ['signal', 'code'], registers: [registry] }),
    dropped: new client.Counter({ name: 'coral_agent_otlp_dropped_total', help: 'OTLP requests not forwarded: inactive (another generation, answered with success), overloaded (503), too_large (413), upstream_error (502), timeout (504), client_error.', labelNames: ['reason'], registers: [registry] }),
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

export async function startOtlpRelay(opts: OtlpRelayOptions): Promise<OtlpRelay> {
  const maxInFlight = opts.maxInFlightBytes ?? 32 * 1024 * 1024;
  const maxBody = opts.maxBodyBytes ?? 8 * 1024 * 1024;
  const timeoutMs = opts.upstreamTimeoutMs ?? 10_000;
  const log = opts.logger.child({ component: 'otlp-relay' });
  const metrics = createRelayMetrics(opts.registry);
  const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 64 }), https: new https.Agent({ keepAlive: true, maxSockets: 64 }) };
  let inFlight = 0;

  const drop = (req: http.IncomingMessage, reason: DropReason): void => {
    metrics.dropped.inc({ reason });
    req.resume(); // read and discard: never buffered
  };

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, signal: OtlpSignal, target: URL, reserved: number): void => {
    inFlight += reserved;
    let released = false;
    const release = (): void => {
      if (!released) inFlight -= reserved;
      released = true;
    };
    const started = process.hrtime.bigint();
    const transport = target.protocol === 'https:' ? https : http;
    const upstream = transport.request(target, {
      method: 'POST',
      headers: forwardHeaders(req.headers),
      agent: target.protocol === 'https:' ? agents.https : agents.http,
      timeout: timeoutMs,
    });
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > reserved) {
        upstream.destroy(new Error('body larger than declared'));
        release();
        metrics.dropped.inc({ reason: 'too_large' });
        answer(res, 413, `OTLP body over ${reserved} bytes`);
        req.destroy();
      }
    });
    req.pipe(upstream);
    req.on('aborted', () => upstream.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
      release();
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
    if (!opts.isActive(generation)) {
      drop(req, 'inactive');
      req.on('end', () => answerSuccess(req, res));
      return;
    }
    const target = opts.upstream[signal];
    if (!target) {
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
    forward(req, res, signal, new URL(target), reserved);
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
  log.info({ port, upstream: opts.upstream }, 'OTLP relay listening');
  return {
    port,
    endpointFor: (generation) => `http://127.0.0.1:${port}/g/${generation}`,
    inFlightBytes: () => inFlight,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      agents.http.destroy();
      agents.https.destroy();
    }),
  };
}
