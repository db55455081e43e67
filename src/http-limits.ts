// Limits for the agent's HTTP servers (control socket, metrics port): timeouts, a connection cap, a body cap, and no reading past an error.
import http from 'node:http';
import type { Logger } from './log.js';

export interface HttpLimits {
  /** A connection that has not sent a whole request head by then is closed (also an idle new one). */
  headersTimeoutMs: number;
  /** A request not wholly received (head and body) by then is answered 408 and closed. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Connections beyond this are closed as soon as they are accepted. */
  maxConnections: number;
  /** How often the timeouts above are checked. */
  checkIntervalMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 256,
  checkIntervalMs: 1_000,
};

/** How often at most the agent logs connections refused over the cap. */
const DROP_REPORT_MS = 10_000;

/**
 * An http.Server with the limits applied. Every answer of 400 or above closes the connection
 * (`connection: close`), so the rest of a request body, however long, is never read.
 */
export function createLimitedServer(opts: { limits?: Partial<HttpLimits>; logger: Logger; name: string }, handler: http.RequestListener): http.Server {
  const limits = { ...DEFAULT_HTTP_LIMITS, ...opts.limits };
  const server = http.createServer({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.checkIntervalMs,
  }, (req, res) => {
    const writeHead = res.writeHead;
    // Decided once, when the head is written, whatever path writes it.
    res.writeHead = function limitedWriteHead(this: http.ServerResponse, statusCode: number, ...rest: unknown[]) {
      if (statusCode >= 400) this.setHeader('connection', 'close');
      return (writeHead as (...args: unknown[]) => http.ServerResponse).call(this, statusCode, ...rest);
    } as typeof res.writeHead;
    handler(req, res);
  });
  server.maxConnections = limits.maxConnections;
  let dropped = 0;
  let reportTimer: NodeJS.Timeout | undefined;
  server.on('drop', () => {
    dropped += 1;
    if (reportTimer) return;
    opts.logger.warn({ server: opts.name, max_connections: limits.maxConnections }, `${opts.name}: too many connections; refusing new ones`);
    reportTimer = setTimeout(() => {
      reportTimer = undefined;
      if (dropped > 0) opts.logger.warn({ server: opts.name, refused: dropped, max_connections: limits.maxConnections }, `${opts.name}: connections refused over the cap`);
      dropped = 0;
    }, DROP_REPORT_MS);
    reportTimer.unref();
  });
  server.on('close', () => clearTimeout(reportTimer));
  return server;
}

/** Whether the request says it has a body: a Content-Length above 0, or any Transfer-Encoding. */
export function hasBody(req: http.IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = Number(req.headers['content-length'] ?? 0);
  return !Number.isFinite(length) || length > 0;
}

/** Whether the request's declared Content-Length is over `maxBytes` (a chunked body is counted while read). */
export function declaresOver(req: http.IncomingMessage, maxBytes: number): boolean {
  const length = Number(req.headers['content-length'] ?? 0);
  return !Number.isFinite(length) || length > maxBytes;
}
