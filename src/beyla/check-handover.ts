// Handover: does a candidate Beyla instrument every process the active one does (still alive, still selected) and every selected listener?
import { readlink } from 'node:fs/promises';
import { exeGlobMatcher } from '../config/exe-glob.js';
import type { PortRange } from '../config/types.js';
import { subtractPorts } from '../plan/format-ports.js';
import { indexPortOwners, type PortOwners } from '../plan/port-owners.js';
import type { DesiredState } from '../plan/types.js';
import { findListeners, type Listener } from './find-listeners.js';
import { stillRunning, type InstrumentedProcess, type InstrumentedProcesses } from './instrumented-processes.js';

export interface ExpectedProcess {
  pid: number;
  /** The service it stands for (its selector's first service), else its executable's name. */
  name: string;
  port?: number;
  /** Why it is waited for: the active instance instruments it, or it listens on a selected port. */
  why: 'active' | 'listener';
}

export interface HandoverCheck {
  covered: boolean;
  expected: ExpectedProcess[];
  missing: ExpectedProcess[];
}

export interface CheckHandoverOptions {
  candidate: InstrumentedProcesses;
  /** The active instance's processes; null for the first instance. */
  active: InstrumentedProcesses | null;
  desired: DesiredState;
  excludePorts: readonly number[];
  /** The agent's own pid: never instrumented. */
  selfPid: number;
  procRoot?: string;
}

const inRanges = (ranges: readonly PortRange[], port: number): boolean => ranges.some((r) => port >= r.from && port <= r.to);

/** "api pid 4121 port 8080". */
export function describeExpected(p: ExpectedProcess): string {
  return `${p.name} pid ${p.pid}${p.port === undefined ? '' : ` port ${p.port}`}`;
}

async function exeOf(pid: number, procRoot: string): Promise<string> {
  return (await readlink(`${procRoot}/${pid}/exe`).catch(() => '')).replace(/ \(deleted\)$/, '');
}

/**
 * What the candidate must instrument before it may replace the active instance: (a) every process
 * the active one instruments that (b) still runs (same pid and start time) and (c) the candidate's
 * selectors still select; and every owner of a listener on a selected port. Processes gone or no
 * longer selected are not waited for.
 */
export async function checkHandover(opts: CheckHandoverOptions): Promise<HandoverCheck> {
  const procRoot = opts.procRoot ?? '/proc';
  const selectors = opts.desired.selectors.map((s) => ({
    names: s.services,
    ports: subtractPorts(s.openPorts, opts.excludePorts),
    exe: s.exePath ? exeGlobMatcher(s.exePath) ?? /(?!)/ : undefined,
    owners: undefined as PortOwners | undefined,
  }));
  const selectorOf = (port: number | undefined, exe: string): (typeof selectors)[number] | undefined => selectors.find((s) =>
    (port === undefined ? s.ports.length === 0 : inRanges(s.ports, port)) && (!s.exe || s.exe.test(exe)));
  // A ports-only selector stands for several services: a port belongs to the one whose own ports hold it.
  const nameOf = (s: (typeof selectors)[number], port: number | undefined): string => {
    // Indexed once per selector (when first needed), not searched per name and process: a ports-only
    // selector can stand for 20,000 services.
    const owner = port === undefined ? undefined : (s.owners ??= indexPortOwners(s.names, opts.desired.services)).at(port)[0];
    return owner ?? s.names[0] ?? '';
  };
  const listeners = await findListeners((port) => selectors.some((s) => inRanges(s.ports, port)), procRoot);
  const expected = new Map<number, ExpectedProcess>();
  const byPid = new Map<number, Listener[]>();
  for (const l of listeners) if (l.pid !== undefined) byPid.set(l.pid, [...(byPid.get(l.pid) ?? []), l]);

  for (const p of await opts.active?.list() ?? []) {
    if (p.pid === opts.selfPid || !(await stillRunning(p, procRoot))) continue;
    const exe = await exeOf(p.pid, procRoot);
    const own = byPid.get(p.pid) ?? [];
    const hit = own.map((l) => ({ l, s: selectorOf(l.port, exe) })).find((x) => x.s) ?? { l: undefined, s: selectorOf(undefined, exe) };
    if (!hit.s) continue; // the new config no longer selects it
    expected.set(p.pid, { pid: p.pid, name: nameOf(hit.s, hit.l?.port) || p.service || p.cmd, ...(hit.l ? { port: hit.l.port } : {}), why: 'active' });
  }
  for (const l of listeners) {
    if (l.pid === undefined || l.pid === opts.selfPid || expected.has(l.pid)) continue;
    const s = selectorOf(l.port, l.exe ?? '');
    if (s) expected.set(l.pid, { pid: l.pid, name: nameOf(s, l.port) || (l.name ?? 'unknown'), port: l.port, why: 'listener' });
  }

  const have = new Map<number, InstrumentedProcess>((await opts.candidate.list()).map((p) => [p.pid, p]));
  const missing: ExpectedProcess[] = [];
  for (const e of expected.values()) {
    const seen = have.get(e.pid);
    if (!seen || !(await stillRunning(seen, procRoot))) missing.push(e);
  }
  return { covered: missing.length === 0, expected: [...expected.values()], missing };
}
