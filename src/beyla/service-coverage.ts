// Which configured services the active Beyla instruments: per service, the processes listening on its ports and those it has instrumented.
import { exeGlobMatcher } from '../config/exe-glob.js';
import type { PortRange } from '../config/types.js';
import { subtractPorts } from '../plan/format-ports.js';
import { indexPortOwners, type PortOwners } from '../plan/port-owners.js';
import type { Selector } from '../plan/types.js';
import { findListeners } from './find-listeners.js';
import { stillRunning, type InstrumentedProcesses } from './instrumented-processes.js';

export interface ServiceCoverage {
  service: string;
  /** Generation of the active instance (0: none). */
  generation: number;
  /** Processes listening on the service's ports (selected by its exe glob, if any). */
  pids: number[];
  /** Those of them the active instance has logged as instrumented. */
  instrumentedPids: number[];
  /** Each listening process with the service's ports it listens on (sorted by pid). */
  listeners: { pid: number; ports: number[] }[];
}

const inRanges = (ranges: readonly PortRange[], port: number): boolean => ranges.some((r) => port >= r.from && port <= r.to);

/** One entry per service named in the selectors; a service with no listener has empty pids. */
export async function serviceCoverage(opts: {
  selectors: readonly Selector[];
  /** Each service's own ports: a ports-only selector stands for several services, a listener belongs to the one whose ports hold it. */
  services?: readonly { name: string; ports: readonly PortRange[] }[];
  instrumented: InstrumentedProcesses | null;
  generation: number;
  excludePorts: readonly number[];
  selfPid: number;
}): Promise<ServiceCoverage[]> {
  const selectors = opts.selectors.map((s) => ({ services: s.services, ports: subtractPorts(s.openPorts, opts.excludePorts), exe: s.exePath ? exeGlobMatcher(s.exePath) ?? /(?!)/ : undefined, owners: undefined as PortOwners | undefined }));
  const listeners = selectors.length === 0 ? [] : await findListeners((port) => selectors.some((s) => inRanges(s.ports, port)));
  const seen = await opts.instrumented?.list() ?? [];
  const live = new Set<number>();
  for (const p of seen) if (await stillRunning(p)) live.add(p.pid);
  /** Service -> pid -> its ports. */
  const byService = new Map<string, Map<number, Set<number>>>();
  for (const s of selectors) for (const name of s.services) byService.set(name, byService.get(name) ?? new Map());
  for (const l of listeners) {
    if (l.pid === undefined || l.pid === opts.selfPid) continue;
    for (const s of selectors) {
      if (!inRanges(s.ports, l.port) || (s.exe && !s.exe.test(l.exe ?? ''))) continue;
      // Indexed once per selector (when a listener first needs it), not searched per name and listener:
      // a ports-only selector can stand for 20,000 services.
      const index = opts.services ? (s.owners ??= indexPortOwners(s.services, opts.services)) : undefined;
      for (const name of index ? [...index.at(l.port), ...index.unknown] : s.services) {
        const owners = byService.get(name);
        owners?.set(l.pid, (owners.get(l.pid) ?? new Set()).add(l.port));
      }
    }
  }
  return [...byService].sort(([a], [b]) => a.localeCompare(b)).map(([service, owners]) => {
    const pids = [...owners.keys()].sort((a, b) => a - b);
    return {
      service,
      generation: opts.generation,
      pids,
      instrumentedPids: pids.filter((pid) => live.has(pid)),
      listeners: pids.map((pid) => ({ pid, ports: [...(owners.get(pid) ?? [])].sort((a, b) => a - b) })),
    };
  });
}
