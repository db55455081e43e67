// Does Beyla's beyla_instrumented_processes cover every process listening on the selected ports?
import { exeGlobMatcher } from '../config/exe-glob.js';
import type { PortRange } from '../config/types.js';
import type { Selector } from '../plan/types.js';
import { subtractPorts } from '../plan/format-ports.js';
import { findListeners, type Listener } from './find-listeners.js';

export interface InstrumentedCheck {
  covered: boolean;
  /** What is still missing, for the readiness failure report. */
  missing: string[];
}

/** Beyla's exe_path matcher; a glob the config layer would refuse matches nothing. */
function globMatcher(glob: string): RegExp {
  return exeGlobMatcher(glob) ?? /(?!)/;
}

const inRanges = (ranges: readonly PortRange[], port: number): boolean => ranges.some((r) => port >= r.from && port <= r.to);

/** `process_name` -> count, from Prometheus text. */
export function instrumentedByName(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of text.matchAll(/^beyla_instrumented_processes\{([^}]*)\}\s+(\S+)/gm)) {
    const name = /process_name="((?:[^"\\]|\\.)*)"/.exec(match[1] ?? '')?.[1] ?? '';
    counts.set(name, (counts.get(name) ?? 0) + Number(match[2]));
  }
  return counts;
}

export interface CheckInstrumentedOptions {
  selectors: readonly Selector[];
  excludePorts: readonly number[];
  internalMetricsText: string;
  /** Our own pid: the agent's listeners are never instrumented. */
  selfPid: number;
}

/**
 * Services that have a listener must be instrumented: every owning process of a listener on a
 * selected port (whose exe matches the selector's glob) must be counted under its name.
 * Selectors with an exe glob and no ports are not checked (no listener to look for).
 */
export async function checkInstrumented(opts: CheckInstrumentedOptions): Promise<InstrumentedCheck> {
  const selectors = opts.selectors
    .filter((s) => s.openPorts.length > 0)
    .map((s) => ({ ports: subtractPorts(s.openPorts, opts.excludePorts), exe: s.exePath ? globMatcher(s.exePath) : undefined }));
  const listeners = await findListeners((port) => selectors.some((s) => inRanges(s.ports, port)));
  const expected = new Map<string, Set<number>>();
  const describe = new Map<string, Listener>();
  for (const listener of listeners) {
    if (listener.pid === undefined || listener.pid === opts.selfPid || listener.name === undefined) continue;
    const selected = selectors.some((s) => inRanges(s.ports, listener.port) && (!s.exe || s.exe.test(listener.exe ?? '')));
    if (!selected) continue;
    const pids = expected.get(listener.name) ?? new Set<number>();
    pids.add(listener.pid);
    expected.set(listener.name, pids);
    describe.set(`${listener.name}/${listener.pid}`, listener);
  }
  const have = instrumentedByName(opts.internalMetricsText);
  const missing: string[] = [];
  for (const [name, pids] of expected) {
    if ((have.get(name) ?? 0) >= pids.size) continue;
    const where = [...pids].map((pid) => `pid ${pid} port ${describe.get(`${name}/${pid}`)?.port}`).join(', ');
    missing.push(`${name} (${where}) not instrumented yet`);
  }
  return { covered: missing.length === 0, missing };
}
