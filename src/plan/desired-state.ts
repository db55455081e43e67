// A config snapshot -> the desired state: every service's ports, and the Beyla discovery selectors.
import { mergeRanges } from '../config/ports.js';
import type { Service } from '../config/types.js';
import type { DesiredState, Selector } from './types.js';

/**
 * Services without an exe glob share one ports-only selector; each service with an exe glob gets its
 * own selector (exe AND ports). Order is stable: the ports-only selector first, then by exe and name.
 */
export function desiredState(services: readonly Service[]): DesiredState {
  const sorted = [...services].sort((a, b) => a.name.localeCompare(b.name));
  const portsOnly = sorted.filter((s) => s.exe === undefined);
  const withExe = sorted.filter((s) => s.exe !== undefined).sort((a, b) => (a.exe ?? '').localeCompare(b.exe ?? '') || a.name.localeCompare(b.name));
  const selectors: Selector[] = [];
  if (portsOnly.length > 0) {
    selectors.push({ services: portsOnly.map((s) => s.name), openPorts: mergeRanges(portsOnly.flatMap((s) => s.ports)) });
  }
  for (const service of withExe) {
    selectors.push({ services: [service.name], openPorts: mergeRanges(service.ports), exePath: service.exe as string });
  }
  // From the selectors' merged ranges: with thousands of services, one sort of every port is enough.
  return { services: sorted, ports: mergeRanges(selectors.flatMap((s) => s.openPorts)), selectors };
}
