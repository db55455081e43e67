// Whether this machine has an IPv6 loopback, found by listening on ::1: the reason to skip a test when it has none.
import { createServer } from 'node:net';

/** Why nothing can listen on ::1 here (e.g. 'listen EADDRNOTAVAIL ::1'), or undefined when something can. */
export function ipv6LoopbackUnavailable(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: Error) => resolve(`no IPv6 loopback on this machine (${error.message})`));
    server.listen(0, '::1', () => server.close(() => resolve(undefined)));
  });
}
