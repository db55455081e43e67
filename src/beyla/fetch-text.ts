// GET a loopback URL as text with a deadline; throws on a non-2xx answer, a refused connection or the deadline.
import { get } from 'node:http';
import { CoralError } from '../errors.js';

export interface FetchTextOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called when the connection is made (the request goes out then). */
  onConnect?: () => void;
}

/**
 * One plain node:http request on its own connection (no agent, no keep-alive). Not the global
 * fetch(): undici keeps a connection pool per origin, and every Beyla generation has new ports,
 * so each swap left a pool behind (a slow leak the soak test measured, ~25 kB a swap).
 */
export function fetchText(url: string, opts: FetchTextOptions): Promise<string> {
  return new Promise((resolveText, reject) => {
    let settled = false;
    const fail = (what: string, cause: unknown, details: Record<string, unknown> = {}): void => {
      if (settled) return;
      settled = true;
      cleanup();
      request.destroy();
      reject(new CoralError('TEMPORARY', `GET ${url} ${what}`, { cause, details: { url, ...details } }));
    };
    // At the deadline, one turn of the event loop first: an answer that arrived while the loop was
    // blocked is read before the request is given up.
    const timer = setTimeout(() => setImmediate(() => fail('failed', new Error(`no answer within ${opts.timeoutMs} ms`), { timed_out: true })), opts.timeoutMs);
    const onAbort = (): void => fail('failed', opts.signal?.reason ?? new Error('aborted'));
    const cleanup = (): void => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    const request = get(url, { agent: false, headers: { connection: 'close' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', (error) => fail('failed: reading the body failed', error));
      response.on('end', () => {
        if (settled) return;
        const status = response.statusCode ?? 0;
        if (status < 200 || status > 299) {
          fail(`answered ${status}`, undefined, { status });
          return;
        }
        settled = true;
        cleanup();
        resolveText(Buffer.concat(chunks).toString('utf8'));
      });
    });
    request.on('error', (error) => fail('failed', error));
    if (opts.onConnect) request.once('socket', (socket) => socket.once('connect', () => opts.onConnect?.()));
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
