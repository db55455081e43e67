// What a service's health check connects to (kind, port, path), and how that target is shown for the addresses tried.
import type { Service } from '../config/types.js';
import { hostPort, type LoopbackHost } from './step-attempt.js';

export interface Probe {
  kind: 'tcp' | 'http';
  port: number;
  path: string;
}

export function probeOf(service: Service): Probe | undefined {
  const port = service.ports[0]?.from;
  if (service.health.kind === 'none' || port === undefined) return undefined;
  const path = service.health.path ?? '/';
  return { kind: service.health.kind, port, path: path.startsWith('/') ? path : `/${path}` };
}

export function targetOf(probe: Probe | undefined, hosts: readonly LoopbackHost[]): string {
  if (!probe) return '';
  return hosts.map((host) => (probe.kind === 'http' ? `http://${hostPort(host, probe.port)}${probe.path}` : hostPort(host, probe.port))).join(', ');
}

export function sameProbe(a: Probe | undefined, b: Probe | undefined): boolean {
  return a?.kind === b?.kind && a?.port === b?.port && a?.path === b?.path;
}
