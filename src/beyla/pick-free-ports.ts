// Free loopback ports for Beyla's own listeners (bind, read the port, close), never one a service is configured on, and where no other process's automatic port choice can land on them.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { PortRange } from '../config/types.js';
import { CoralError } from '../errors.js';

/** Random ports tried above the ephemeral range before asking the OS for one inside it. */
const MAX_ABOVE_RANGE_ATTEMPTS = 200;
/** Ephemeral ports asked of the OS before falling back to probing ports anywhere. */
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
  /** The OS's ephemeral range (`net.ipv4.ip_local_port_range`); read from /proc when not given, none when unreadable. */
  ephemeralRange?: PortRange | null;
}

/** `net.ipv4.ip_local_port_range` of this network namespace, or null when it cannot be read. */
export function readEphemeralRange(file = '/proc/sys/net/ipv4/ip_local_port_range'): PortRange | null {
  try {
    const [from, to] = readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
    return Number.isInteger(from) && Number.isInteger(to) && from! > 0 && from! <= to! ? { from: from!, to: to! } : null;
  } catch {
    return null;
  }
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
 * the OS cannot hand out the same port twice. A port is free only until Beyla binds it, so they
 * come first from above the OS's ephemeral range (61000-65535 on a default Linux): the kernel
 * never picks those for a `listen(0)` or an outgoing connection's source port, so on a busy host
 * no other process takes them in that moment by chance, only by naming them. When that space is
 * empty or taken, the ephemeral range is asked (`listen(0)`); when that only yields avoided ports
 * (a service configured across it) or runs dry, random ports in 1024-65535 outside the avoided
 * ones are tried. A port can still be taken after this returns, which the caller sees as a failed
 * start.
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
  const ephemeral = opts.ephemeralRange === undefined ? readEphemeralRange() : opts.ephemeralRange;
  try {
    const aboveFrom = ephemeral ? ephemeral.to + 1 : PROBE_TO + 1;
    for (let attempt = 0; chosen.length < count && aboveFrom <= PROBE_TO && attempt < MAX_ABOVE_RANGE_ATTEMPTS; attempt += 1) {
      const port = aboveFrom + Math.floor(Math.random() * (PROBE_TO - aboveFrom + 1));
      if (isAvoided(port) || chosen.includes(port)) continue;
      take(await listen(port));
    }
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
