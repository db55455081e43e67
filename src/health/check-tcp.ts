// One TCP health check: connect within a deadline, then hang up.
import net from 'node:net';

export interface TcpCheckOptions {
  host: string;
  port: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Resolves when a connection is accepted; rejects with the reason otherwise. */
export function checkTcp(opts: TcpCheckOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: opts.host, port: opts.port });
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    const onAbort = (): void => finish(new Error('check cancelled'));
    const timer = setTimeout(() => finish(new Error(`no connection within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish());
    socket.once('error', (error) => finish(error));
  });
}
