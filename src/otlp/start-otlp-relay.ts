// The OTLP/HTTP relay: one loopback endpoint per Beyla generation; only the active one's requests reach the user's collector.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { forwardRequest, type ForwardOptions } from './forward-request.js';
import { GenerationWindows } from './generation-windows.js';
import type { OtlpRelay, OtlpRelayOptions, OtlpSignal } from './otlp-relay-types.js';
import { answer, answerSuccess, readBody } from './relay-http.js';
import { createRelayMetrics, type DropReason } from './relay-metrics.js';
import { selectBody, type SelectBodyOptions } from './select-body.js';
import { OtlpBodyError } from './split-by-time.js';
import { UpstreamRoutes, type Route } from './upstream-routes.js';

export type { OtlpRelay, OtlpRelayOptions, OtlpSignal, UpstreamTarget } from './otlp-relay-types.js';

const PATH = /^\/g\/(\d+)\/v1\/(traces|metrics|logs)$/;

export async function startOtlpRelay(opts: OtlpRelayOptions): Promise<OtlpRelay> {
  const maxInFlight = opts.maxInFlightBytes ?? 32 * 1024 * 1024;
  const maxBody = opts.maxBodyBytes ?? 8 * 1024 * 1024;
  const timeoutMs = opts.upstreamTimeoutMs ?? 10_000;
  const now = opts.now ?? Date.now;
  const log = opts.logger.child({ component: 'otlp-relay' });
  const metrics = createRelayMetrics(opts.registry);
  const windows = new GenerationWindows();
  const routes = new UpstreamRoutes(timeoutMs);
  const selecting: SelectBodyOptions = { windows, metrics, maxBody };
  const forwarding: ForwardOptions = { metrics, log, timeoutMs };
  let inFlight = 0;
  routes.set(opts.upstream);

  const drop = (req: http.IncomingMessage, reason: DropReason): void => {
    metrics.dropped.inc({ reason });
    req.resume(); // read and discard: never buffered
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
        body = await selectBody(selecting, req, signal, generation, raw);
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
        forwardRequest(forwarding, res, req, signal, route, body);
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
  log.info({ port, upstream: routes.urls() }, 'OTLP relay listening');
  return {
    port,
    endpointFor: (generation) => `http://127.0.0.1:${port}/g/${generation}`,
    cut: (from, to) => {
      const atNs = windows.cut(from, to, now());
      log.info({ from_generation: from, to_generation: to, cut_unix_ns: String(atNs) }, 'OTLP cut: items from here on are the new generation\'s');
    },
    observe: (active, running) => windows.observe(active, running),
    setUpstream: (upstream) => {
      routes.set(upstream);
      log.info({ upstream: routes.urls() }, 'OTLP relay upstream changed');
    },
    inFlightBytes: () => inFlight,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      routes.destroy();
    }),
  };
}
