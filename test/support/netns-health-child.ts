// Run inside a network namespace with IPv6 disabled on lo: health checks of services up and down, tcp and http; prints their status.
import http from 'node:http';
import net from 'node:net';
import client from 'prom-client';
import { createLogger } from '../../src/log.js';
import { HealthMonitor, type ServiceHealth } from '../../src/health/index.js';
import { DEFAULTS, closeServer, listen, service } from './health-fixtures.js';
import { ipv6LoopbackUnavailable } from './ipv6-loopback.js';

const tcp = net.createServer((socket) => socket.destroy());
const web = http.createServer((_req, res) => res.end('ok'));
const tcpPort = await listen(tcp);
const webPort = await listen(web);
const idle = net.createServer();
const downPort = await listen(idle);
await closeServer(idle);
const monitor = new HealthMonitor({
  logger: createLogger({ level: 'silent', env: {} }),
  registry: new client.Registry(),
  defaults: { ...DEFAULTS, unhealthyThreshold: 1 },
});
const names = ['tcp-up', 'http-up', 'tcp-down', 'http-down'];
const checked = new Set<string>();
const done = new Promise<void>((resolve) => {
  monitor.on('check', (name) => {
    checked.add(name);
    if (checked.size === names.length) resolve();
  });
});
monitor.update([
  service('tcp-up', tcpPort, { kind: 'tcp' }),
  service('http-up', webPort, { kind: 'http', path: '/healthz' }),
  service('tcp-down', downPort, { kind: 'tcp' }),
  service('http-down', downPort, { kind: 'http', path: '/healthz' }),
]);
const deadline = setTimeout(() => {
  process.stderr.write(`deadline: ${JSON.stringify(monitor.status())}\n`);
  process.exit(1);
}, 10_000);
await done;
clearTimeout(deadline);
const status: Record<string, ServiceHealth> = monitor.status();
monitor.close();
await Promise.all([closeServer(tcp), closeServer(web)]);
process.stdout.write(`${JSON.stringify({ ipv6: (await ipv6LoopbackUnavailable()) ?? 'available', tcpPort, webPort, downPort, status })}\n`);
