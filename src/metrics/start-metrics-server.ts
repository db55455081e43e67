// The one stable scrape address: the agent's registry followed by the active Beyla instance's metrics.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import { CoralError, isErrno } from '../errors.js';
import { createLimitedServer, hasBody, type HttpLimits } from '../http-limits.js';
import type { Logger } from '../log.js';
import type { Registry } from './create-registry.js';
import { mergeExposition } from './merge-exposition.js';
import { parseListen } from './parse-listen.js';

export interface MetricsServerOptions {
  /** 'host:port', '[::1]:port' or ':port'; port 0 picks a free port. */
  listen: string;
  registry: Registry;
  /** Text of the active Beyla instance's metrics, or null when none is running. */
  scrapeExtra: (signal: AbortSignal) => Promise<string | null>;
  logger: Logger;
  /** A scrapeExtra slower than this is abandoned and the agent part served alone. Default 5000. */
  scrapeExtraTimeoutMs?: number;
  /** Timeouts and the connection cap (defaults in src/http-limits.ts). */
  limits?: Partial<HttpLimits>;
}

export interface MetricsServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

const SCRAPE_ERRORS = 'coral_agent_beyla_scrape_errors_total';
/** More than the control socket's cap: a thousand scrapes at once must all be answered (they share one Beyla request). */
export const METRICS_MAX_CONNECTIONS = 2048;

/** Get-or-create, so the Beyla supervisor may register the same counter on the shared registry. */
function scrapeErrorCounter(registry: Registry): client.Counter {
  const existing = registry.getSingleMetric(SCRAPE_ERRORS);
  if (existing) return existing as client.Counter;
  return new client.Counter({
    name: SCRAPE_ERRORS,
    help: "Scrapes where the active Beyla instance's metrics could not be fetched (the agent's were served alone).",
    registers: [registry],
  });
}

async function withTimeout<T>(run: (signal: AbortSignal) => Promise<T>, timeoutMs: number): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`no answer within ${timeoutMs} ms`);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([run(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function listenError(listen: string, error: unknown): CoralError {
  const hint = `set agent.metrics.listen to a free address (now '${listen}')`;
  if (isErrno(error, 'EADDRINUSE')) {
    return new CoralError('CANT_CREATE', `cannot listen on ${listen}: address in use`, { hint, cause: error });
  }
  if (isErrno(error, 'EACCES')) {
    return new CoralError('PERMISSION', `cannot listen on ${listen}: permission denied`, { hint, cause: error });
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new CoralError('CANT_CREATE', `cannot listen on ${listen}: ${reason}`, { hint, cause: error });
}

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const { registry, scrapeExtra } = opts;
  const extraTimeoutMs = opts.scrapeExtraTimeoutMs ?? 5000;
  const logger = opts.logger.child({ component: 'metrics' });
  const { host, port } = parseListen(opts.listen);
  const scrapeErrors = scrapeErrorCounter(registry);
  const reportedDuplicates = new Set<string>();

  async function fetchExtra(): Promise<string | null> {
    try {
      return await withTimeout(scrapeExtra, extraTimeoutMs);
    } catch (error) {
      scrapeErrors.inc();
      logger.debug({ err: error }, 'beyla metrics unavailable; serving agent metrics alone');
      return null;
    }
  }

  async function serveMetrics(res: http.ServerResponse): Promise<void> {
    // Beyla first, so a failure it causes is already counted in the agent part of this same scrape.
    const extra = await fetchExtra();
    let agentText: string;
    try {
      agentText = await registry.metrics();
    } catch (error) {
      logger.error({ err: error }, 'collecting agent metrics failed');
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('collecting metrics failed\n');
      return;
    }
    const merged = mergeExposition(agentText, extra);
    const fresh = merged.dropped.filter((name) => !reportedDuplicates.has(name));
    if (fresh.length > 0) {
      for (const name of fresh) reportedDuplicates.add(name);
      logger.warn({ families: fresh }, 'beyla metric families also defined by the agent were left out');
    }
    res.writeHead(200, { 'content-type': registry.contentType }).end(merged.text);
  }

  // Any answer of 400 or above closes the connection: the rest of a request body is never read.
  const server = createLimitedServer({ limits: { maxConnections: METRICS_MAX_CONNECTIONS, ...opts.limits }, logger, name: 'metrics server' }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics' || path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
        return;
      }
      if (hasBody(req)) {
        res.writeHead(413, { 'content-type': 'text/plain; charset=utf-8' }).end('no request body is accepted\n');
        return;
      }
      if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok');
        return;
      }
      serveMetrics(res).catch((error: unknown) => {
        logger.error({ err: error }, 'serving a scrape failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found; try /metrics\n');
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: unknown): void => reject(listenError(opts.listen, error));
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (error) => logger.error({ err: error }, 'metrics server error'));

  const info = server.address() as AddressInfo;
  const address = { host: info.address, port: info.port };
  logger.info({ host: address.host, port: address.port }, 'serving metrics');

  return {
    address,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
