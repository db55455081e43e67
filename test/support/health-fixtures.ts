// Shared by the health tests: a service with a check, a monitor closed after the test, waiting for a check's outcome, listeners.
import net from 'node:net';
import type http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import type { Logger } from '../../src/log.js';
import type { HealthCheck, HealthDefaults, Service } from '../../src/config/types.js';
import { HealthMonitor, type HealthMonitorOptions, type ServiceHealth } from '../../src/health/index.js';

export const DEFAULTS: HealthDefaults = { intervalMs: 1000, timeoutMs: 1000, unhealthyThreshold: 3, healthyThreshold: 2 };
const DEADLINE_MS = 10_000;

export function service(name: string, port: number, health: Partial<HealthCheck>): Service {
  return {
    name,
    ports: [{ from: port, to: port }],
    health: { kind: 'tcp', intervalMs: 20, timeoutMs: 1000, ...health },
    source: { file: '/etc/coral/coral.yaml', line: 1, col: 1 },
  };
}

/** Resolve once `predicate` holds for the named service, re-checked after every finished check. */
export function waitFor(monitor: HealthMonitor, name: string, predicate: (h: ServiceHealth) => boolean): Promise<ServiceHealth> {
  const now = monitor.status()[name];
  if (now && predicate(now)) return Promise.resolve(now);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      monitor.off('check', onCheck);
      reject(new Error(`deadline: ${name} is ${JSON.stringify(monitor.status()[name])}`));
    }, DEADLINE_MS);
    const onCheck = (checked: string, health: ServiceHealth): void => {
      if (checked !== name || !predicate(health)) return;
      clearTimeout(timer);
      monitor.off('check', onCheck);
      resolve(health);
    };
    monitor.on('check', onCheck);
  });
}

/** The outcome of the next finished check of the named service. */
export function nextCheck(monitor: HealthMonitor, name: string): Promise<ServiceHealth> {
  let armed = false;
  const next = waitFor(monitor, name, () => armed);
  armed = true;
  return next;
}

export async function listen(server: net.Server, port = 0, host = '127.0.0.1'): Promise<number> {
  server.listen(port, host);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

export function closeServer(server: net.Server | http.Server): Promise<void> {
  if ('closeAllConnections' in server) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export function monitorFor(
  t: { after(fn: () => void): void },
  logger: Logger,
  defaults = DEFAULTS,
  caps: Pick<HealthMonitorOptions, 'maxConcurrent' | 'maxPerSecond'> = {},
): { monitor: HealthMonitor; registry: client.Registry } {
  const registry = new client.Registry();
  const controller = new AbortController();
  const monitor = new HealthMonitor({ logger, registry, defaults, signal: controller.signal, ...caps });
  t.after(() => controller.abort());
  return { monitor, registry };
}
