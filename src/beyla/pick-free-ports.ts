// Ask the OS for free loopback ports (listen on 127.0.0.1:0, read the port, close), never one a service is configured on.
import { createServer, type Server } from 'node:net';
import type { PortRange } from '../config/types.js';
import { CoralError } from '../errors.js';

/** Ephemeral ports asked of the OS before falling back to probing ports outside its range. */
const MAX_EPHEMERAL_ATTEMPTS = 50;
/** Ports probed one by one when the ephemeral range is exhausted or holds only avoided ports. */
const MAX_PROBE_ATTEMPTS = 500;
/** Probed ports stay clear of the privileged ones. */
const PROBE_FROM = 1024;
const PROBE_TO = 65535;

export interface PickFreePortsOptions {
  /** Single ports never to hand out: the agent's own, other instances'. */
  avoid?: Iterable<number>;
  /** Ranges never to hand out: every configured service's ports (a service not listening yet must find its port free). */
  avoidRanges?: readonly PortRange[];
}

function listen(port: number): Promise<Server | null> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      // The ephemeral range is exhausted (port 0) or this port is taken or forbidden: try another way.
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') resolvePromise(null);
      else reject(error);
    });
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolvePromise(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolvePromise) => server.close(() => resolvePromise()));
}

function portOf(server: Server): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

/**
 * `count` distinct free ports, none avoided. All are held open until every one is chosen, so
 * the OS cannot hand out the same port twice. The OS's ephemeral range comes first; when it only
 * yields avoided ports (a service configured across it) or runs dry, random ports in 1024-65535
 * outside the avoided ones are tried. A port can still be taken by someone else after this
 * returns, which the caller notices as a failed start.
 */
export async function pickFreePorts(count: number, opts: PickFreePortsOptions = {}): Promise<number[]> {
  const avoided = new Set(opts.avoid ?? []);
  const ranges = opts.avoidRanges ?? [];
  const isAvoided = (port: number): boolean => avoided.has(port) || ranges.some((r) => port >= r.from && port <= r.to);
  const held: Server[] = [];
  const chosen: number[] = [];
  const take = (server: Server | null): boolean => {
    if (!server) return false;
    held.push(server);
    const port = portOf(server);
    if (port > 0 && !isAvoided(port) && !chosen.includes(port)) chosen.push(port);
    return true;
  };
  try {
    for (let attempt = 0; chosen.length < count && attempt < MAX_EPHEMERAL_ATTEMPTS; attempt += 1) {
      if (!take(await listen(0))) break;
    }
    for (let attempt = 0; chosen.length < count && attempt < MAX_PROBE_ATTEMPTS; attempt += 1) {
      const port = PROBE_FROM + Math.floor(Math.random() * (PROBE_TO - PROBE_FROM + 1));
      if (isAvoided(port) || chosen.includes(port)) continue;
      take(await listen(port));
    }
    if (chosen.length < count) {
      throw new CoralError('TEMPORARY', `could not find ${count} free loopback ports outside the configured ones`, {
        details: { avoided: [...avoided], avoided_ranges: ranges.map((r) => `${r.from}-${r.to}`) },
      });
    }
    return chosen;
  } finally {
    await Promise.all(held.map(close));
  }
}
