// The agent's current phase in words, for `coral status` and `coral connect --wait` progress.
import type { AgentStatus, PhaseStatus } from './coral-fetch-status.js';

const seconds = (ms: number | undefined): string => `${Math.max(Math.ceil((ms ?? 0) / 1000), 0)}s`;

/** "debounce ends in 3s", "swap to Beyla generation 6 (replacing 5)", ...; undefined for an agent that does not say. */
export function phaseText(phase: PhaseStatus | undefined): string | undefined {
  if (!phase) return undefined;
  switch (phase.name) {
    case 'idle': return 'idle';
    case 'debounce': return `change seen, debounce ends in ${seconds(phase.inMs)}`;
    case 'queued': return 'a change waits for the run in flight';
    case 'reconciling': return 'reading the configuration';
    case 'swap': return `swap to Beyla generation ${phase.generation ?? '?'}${phase.from ? ` (replacing ${phase.from})` : ''}, waiting for it to be ready`;
    default: return phase.name;
  }
}

/** What a `--wait` for `portsText` from `file` is waiting for, in the agent's own phase. */
export function waitPhaseText(status: AgentStatus, opts: { file: string; portsText: string; wanted: boolean; plural: boolean }): string {
  const phase = status.phase;
  const ports = `port${opts.plural ? 's' : ''} ${opts.portsText}`;
  if (!phase) {
    // An agent without a phase: say only what the status shows.
    if (!opts.wanted) return `waiting for coral-agent to read ${opts.file}`;
    return `waiting for Beyla to include ${ports} (Beyla ${status.beyla.state}${status.pending ? ', change pending' : ''})`;
  }
  if (!opts.wanted) {
    switch (phase.name) {
      case 'debounce': return `coral-agent saw the change; debounce ends in ${seconds(phase.inMs)}`;
      case 'reconciling': return `coral-agent is reading the configuration`;
      case 'queued': return `coral-agent is finishing another change; ${opts.file} comes next`;
      case 'swap': return `a swap to Beyla generation ${phase.generation ?? '?'} for an earlier change is running; ${opts.file} comes next`;
      default: return `waiting for coral-agent to notice ${opts.file}`;
    }
  }
  switch (phase.name) {
    case 'swap': {
      const h = status.beyla.handover;
      if (h && h.expected > 0 && (h.generation === undefined || h.generation === phase.generation)) {
        return `swap to Beyla generation ${phase.generation ?? '?'} with ${ports}: ${h.instrumented} of ${h.expected} process${h.expected === 1 ? '' : 'es'} instrumented (Beyla loads its eBPF programs first)`;
      }
      return `swap to Beyla generation ${phase.generation ?? '?'} with ${ports}: waiting for it to be ready`;
    }
    case 'debounce': return `debounce ends in ${seconds(phase.inMs)}, then Beyla restarts with ${ports}`;
    case 'reconciling':
    case 'queued': return `coral-agent is handing ${ports} to Beyla`;
    default: {
      const why = status.beyla.reason ? `: ${status.beyla.reason.split('\n', 1)[0]}` : '';
      return `waiting for Beyla to include ${ports} (Beyla ${status.beyla.state}${why}, generation ${status.beyla.generation ?? 0} running)`;
    }
  }
}

/** The last phase of a `--wait`: the active generation selects the ports; the processes listening on them are not all instrumented yet. */
export function instrumentPhaseText(opts: { generation: number | undefined; portsText: string; plural: boolean; missing: string[] }): string {
  const who = `Beyla generation ${opts.generation ?? '?'}`;
  const ports = `port${opts.plural ? 's' : ''} ${opts.portsText}`;
  if (opts.missing.length === 0) return `${who} selects ${ports}; waiting for it to report the processes listening on ${opts.plural ? 'them' : 'it'}`;
  return `${who} selects ${ports}; waiting for it to instrument ${opts.missing.join(', ')}`;
}
