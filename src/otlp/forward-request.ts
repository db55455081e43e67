// forwardRequest: sends one selected OTLP body to the user's collector and pipes its answer back to Beyla (504/502 when it fails).
import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../log.js';
import type { OtlpSignal } from './otlp-relay-types.js';
import { answer, forwardHeaders } from './relay-http.js';
import type { RelayMetrics } from './relay-metrics.js';
import type { Route } from './upstream-routes.js';

export interface ForwardOptions {
  metrics: RelayMetrics;
  log: Logger;
  /** Deadline of the upstream exchange. */
  timeoutMs: number;
}

export function forwardRequest(opts: ForwardOptions, res: http.ServerResponse, req: http.IncomingMessage, signal: OtlpSignal, route: Route, body: Buffer): void {
  const { metrics, log, timeoutMs } = opts;
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
}
