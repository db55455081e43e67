// Run inside a network namespace whose ephemeral range is 40000-40019: a supervisor instruments a service on exactly that range.
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import client from 'prom-client';
import { BeylaSupervisor } from '../../src/beyla/supervisor.js';
import { createLogger } from '../../src/log.js';
import { settings } from './supervisor-fixtures.js';

const FROM = 40_000;
const TO = 40_019;

/** Binds 0.0.0.0:port as a service would; resolves with the error code, or 'ok'. */
function bindService(port: number): Promise<string> {
  return new Promise((resolvePromise) => {
    const server: Server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolvePromise(error.code ?? 'error'));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolvePromise('ok')));
  });
}

/** TCP sockets in this namespace whose local port is `port`, by state: 'listen' (0A) or 'other' (a client connection's source port). */
function socketsOn(port: number): string[] {
  const states: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4) continue;
      const local = Number.parseInt(fields[1]?.split(':')[1] ?? '', 16);
      if (local === port) states.push(fields[3] === '0A' ? 'listen' : 'other');
    }
  }
  return states;
}

const dir = await mkdtemp(join(tmpdir(), 'coral-netns-ports-'));
const sup = new BeylaSupervisor({
  settings: settings(),
  runtimeDir: join(dir, 'run'),
  logger: createLogger({ level: 'silent', env: {} }),
  registry: new client.Registry(),
  excludePorts: [],
  env: process.env,
  timing: { stopMarginMs: 500 },
});
try {
  const ranges = [{ from: FROM, to: TO }];
  const outcome = await sup.apply({ services: [], ports: ranges, selectors: [{ services: ['svc'], openPorts: ranges }] });
  const status = sup.status();
  const active = status.instances.find((i) => i.role === 'active');
  const yaml = active ? await readFile(active.configFile, 'utf8') : '';
  const binds: Record<string, string> = {};
  for (let port = FROM; port <= TO; port += 1) {
    const result = await bindService(port);
    // With the ephemeral range inside the service ports, any client connection (the agent's probes) borrows one as
    // its source port, as on any host; say what held the port, so the test can tell that from a listener of Beyla's.
    binds[port] = result === 'ok' ? 'ok' : `${result} (${socketsOn(port).join(',') || 'none'})`;
  }
  process.stdout.write(`${JSON.stringify({
    result: outcome.result,
    error: outcome.error,
    portsString: status.portsString,
    instancePorts: active?.ports,
    openPortsLine: yaml.split('\n').find((line) => line.includes('open_ports')),
    binds,
  })}\n`);
} finally {
  await sup.stop();
  await rm(dir, { recursive: true, force: true });
}
