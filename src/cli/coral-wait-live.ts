// `coral connect --wait`: poll the agent until the active Beyla instruments the processes listening on the service's ports, or report what stopped them.
import { setTimeout as sleep } from 'node:timers/promises';
import { formatRanges } from '../config/ports.js';
import type { PortRange } from '../config/types.js';
import { CoralError } from '../errors.js';
import { coversPorts, fetchAgentStatus, portsOf, type AgentStatus, type ServiceInstrumentation } from './coral-fetch-status.js';
import { formatDiagnostic } from './format-diagnostic.js';
import type { Io } from './io.js';
import { instrumentPhaseText, waitPhaseText } from './phase-text.js';

export interface WaitLiveOptions {
  socketPath: string;
  name: string;
  ports: readonly PortRange[];
  /** The drop-in's absolute path: a rejection of this file stops the wait. */
  file: string;
  timeoutMs: number;
  io: Io;
  /** Default 250 ms. */
  pollMs?: number;
  /** Swaps that ended before this (ms since the epoch) are not ours. Default: now. */
  sinceMs?: number;
}

export interface WaitLiveResult {
  beylaGeneration: number | undefined;
  elapsedMs: number;
  /**
   * 'instrumented': the active generation instruments every process listening on the ports;
   * 'no-listener': it selects the ports but nothing listens on them yet; 'selected': the agent
   * does not report instrumentation (an older agent), so only the selection is known.
   */
  outcome: 'instrumented' | 'no-listener' | 'selected';
  /** The processes listening on the ports, all instrumented ('instrumented'). */
  pids: number[];
}

/** What the active generation does with the service now: its coverage entry, when the agent reports one for that generation. */
function coverageOf(status: AgentStatus, name: string): ServiceInstrumentation | undefined {
  const active = status.beyla.instances.find((i) => i.role === 'active');
  const c = status.beyla.services?.find((s) => s.service === name);
  return c && c.generation !== undefined && c.generation === (active?.generation ?? status.beyla.generation) ? c : undefined;
}

/** "web pid 4121 (port 8080)" for each listening process the active generation has not instrumented. */
function missingOf(c: ServiceInstrumentation): string[] {
  return c.pids.filter((pid) => !c.instrumentedPids.includes(pid)).map((pid) => {
    const ports = c.listeners.find((l) => l.pid === pid)?.ports ?? [];
    return `${c.service} pid ${pid}${ports.length === 0 ? '' : ` (port${ports.length === 1 ? '' : 's'} ${ports.join(', ')})`}`;
  });
}

/** The line `coral connect --wait` ends with. */
export function waitResultLine(result: WaitLiveResult, portWords: string): string {
  const generation = result.beylaGeneration === undefined ? 'Beyla' : `Beyla generation ${result.beylaGeneration}`;
  const after = `after ${(result.elapsedMs / 1000).toFixed(1)}s`;
  switch (result.outcome) {
    case 'instrumented': return `Instrumented: ${portWords} by ${generation} (pid${result.pids.length === 1 ? '' : 's'} ${result.pids.join(', ')}, ${after})`;
    case 'no-listener': return `Selected: ${portWords} in ${generation} (${after}); no process listens on ${portWords.replace(/^ports? /, '')} yet: Beyla instruments it once one does (see coral status)`;
    case 'selected': return `Selected: ${portWords} in ${generation} (${after}); this coral-agent does not report which processes are instrumented`;
  }
}

function phaseOf(status: AgentStatus, opts: WaitLiveOptions, portsText: string): string {
  const wanted = status.desired.services.find((s) => s.name === opts.name);
  return waitPhaseText(status, {
    file: opts.file, portsText,
    wanted: wanted !== undefined && coversPorts(portsOf(wanted.ports), opts.ports),
    plural: !(opts.ports.length === 1 && opts.ports[0]!.from === opts.ports[0]!.to),
  });
}

function isLive(status: AgentStatus, ports: readonly PortRange[]): boolean {
  return status.beyla.state === 'ready' &&
    status.applied !== undefined && coversPorts(portsOf(status.applied.ports), ports) &&
    status.beyla.instances.some((i) => i.role === 'active');
}

/** Resolves once the active generation instruments every listener on the ports (or selects them, none listening); throws CoralError: INVALID_CONFIG (65), BEYLA_UNAVAILABLE (69), BEYLA_FAILED (70), TEMPORARY (75). */
export async function waitLive(opts: WaitLiveOptions): Promise<WaitLiveResult> {
  const { io } = opts;
  const pollMs = opts.pollMs ?? 250;
  const start = Date.now();
  const sinceMs = opts.sinceMs ?? start;
  const deadline = start + opts.timeoutMs;
  const portsText = formatRanges(opts.ports);
  const single = opts.ports.length === 1 && opts.ports[0]!.from === opts.ports[0]!.to;
  let lastPhase = '';
  /** Listening processes the active generation selects but has not instrumented (the last look). */
  let missing: string[] = [];
  let printedPhase = '';
  let printedAtMs = 0;
  for (;;) {
    const now = Date.now();
    let status: AgentStatus | undefined;
    try {
      status = await fetchAgentStatus({ socketPath: opts.socketPath, timeoutMs: Math.max(Math.min(2000, deadline - now), 100) });
    } catch (error) {
      // A busy agent (slow answer) is a reason to keep waiting; a stopped one or a refusal is not.
      if (!(error instanceof CoralError && error.code === 'TEMPORARY')) throw error;
      lastPhase = `waiting for coral-agent to answer (${error.message})`;
    }
    if (status) {
      const rejected = status.rejected.find((r) => r.file === opts.file);
      if (rejected) {
        for (const d of rejected.errors) io.err(formatDiagnostic(d));
        throw new CoralError('INVALID_CONFIG', `coral-agent rejected ${opts.file}`, { hint: 'fix the errors above, then run coral connect again', details: { path: opts.file } });
      }
      if (status.beyla.state === 'disabled' || status.beyla.state === 'unavailable') {
        const why = status.beyla.reason ?? (status.beyla.state === 'disabled' ? 'agent.beyla.enabled is false' : 'no reason given');
        throw new CoralError('BEYLA_UNAVAILABLE', `Beyla is ${status.beyla.state}: ${why}`, {
          hint: status.beyla.state === 'disabled' ? 'the service is health-checked but not instrumented' : 'see: journalctl -u coral-agent',
        });
      }
      const swap = status.beyla.lastSwap;
      const swapAtMs = swap?.at ? Date.parse(swap.at) : NaN;
      if (swap?.result === 'failed' && swapAtMs >= sinceMs) {
        throw new CoralError('BEYLA_FAILED', `Beyla generation ${swap.generation ?? '?'} failed to start with the new ports: ${swap.error ?? 'no reason given'}`, {
          hint: 'the previous Beyla keeps running and the agent retries with backoff; see: journalctl -u coral-agent',
        });
      }
      if (isLive(status, opts.ports)) {
        const beylaGeneration = status.beyla.instances.find((i) => i.role === 'active')?.generation ?? status.beyla.generation;
        const done = (outcome: WaitLiveResult['outcome'], pids: number[] = []): WaitLiveResult => ({ beylaGeneration, elapsedMs: Date.now() - start, outcome, pids });
        if (status.beyla.services === undefined) return done('selected');
        const c = coverageOf(status, opts.name);
        if (c && c.pids.length === 0) return done('no-listener');
        if (c && missingOf(c).length === 0) return done('instrumented', c.pids);
        missing = c ? missingOf(c) : [];
        lastPhase = instrumentPhaseText({ generation: beylaGeneration, portsText, plural: !single, missing });
      } else {
        missing = [];
        lastPhase = phaseOf(status, opts, portsText);
      }
    }
    const elapsedMs = Date.now() - start;
    if (Date.now() >= deadline) {
      const what = missing.length > 0
        ? `not instrumented yet: ${missing.join(', ')}`
        : `not live yet (${lastPhase.replace(/^waiting for /, 'still waiting for ')})`;
      throw new CoralError('TEMPORARY', `timed out after ${Math.round(opts.timeoutMs / 1000)} s: port${single ? ' ' : 's '}${portsText} ${single ? 'is' : 'are'} ${what}`, {
        hint: 'the service stays connected; check later with: coral status',
        ...(missing.length > 0 ? { details: { missing } } : {}),
      });
    }
    if (lastPhase !== printedPhase || elapsedMs - printedAtMs >= 2000) {
      io.err(`${lastPhase} ... (${Math.floor(elapsedMs / 1000)}s)`);
      printedPhase = lastPhase;
      printedAtMs = elapsedMs;
    }
    await sleep(Math.min(pollMs, Math.max(deadline - Date.now(), 0)));
  }
}
