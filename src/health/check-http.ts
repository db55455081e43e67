// One HTTP health check: GET a path within a deadline; 2xx and 3xx mean healthy (redirects not followed).
import http from 'node:http';
import { hostPort } from './step-attempt.js';

export interface HttpCheckOptions {
  /** An address: '127.0.0.1' or '::1' (sent as `Host: [::1]:port`). */
  host: string;
  port: number;
  path: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export function checkHttp(opts: HttpCheckOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: opts.host, port: opts.port, path: opts.path, method: 'GET', agent: false,
      headers: { host: hostPort(opts.host, opts.port), 'user-agent': 'coral-agent-health', connection: 'close' },
    });
    let done = false;
    const finish = (error?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      if (error) reject(error);
      else resolve();
    };
    const onAbort = (): void => finish(new Error('check cancelled'));
    const timer = setTimeout(() => finish(new Error(`no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      res.once('end', () => finish(status >= 200 && status < 400 ? undefined : new Error(`HTTP ${status}`)));
      res.once('error', (error) => finish(error));
    });
    req.once('error', (error) => finish(error));
    req.end();
  });
}
