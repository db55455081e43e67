// Ask the OS for free loopback ports (listen on 127.0.0.1:0, read the port, close), avoiding some.
import { createServer, type Server } from 'node:net';
import { CoralError } from '../errors.js';

const MAX_ATTEMPTS = 50;

function listenEphemeral(): Promise<Server> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => resolvePromise(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolvePromise) => server.close(() => resolvePromise()));
}

/**
 * `count` distinct free ports not in `avoid`. All are held open until every one is chosen, so
 * the OS cannot hand out the same port twice; a port can still be taken by someone else after
 * this returns, which the caller notices as a failed start.
 */
export async function pickFreePorts(count: number, avoid: Iterable<number> = []): Promise<number[]> {
  const avoided = new Set(avoid);
  const held: Server[] = [];
  const chosen: number[] = [];
  try {
    for (let attempt = 0; chosen.length < count; attempt += 1) {
      if (attempt >= MAX_ATTEMPTS) {
        throw new CoralError('TEMPORARY', `could not find ${count} free loopback ports`, { details: { avoided: [...avoided] } });
      }
      const server = await listenEphemeral();
      held.push(server);
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      if (port > 0 && !avoided.has(port) && !chosen.includes(port)) chosen.push(port);
    }
    return chosen;
  } finally {
    await Promise.all(held.map(close));
  }
}
