// The one-line STATUS= text: "gen 7: 4 services, 5 ports; beyla ready (pid 1234); 1 drop-in rejected".
import type { SupervisorStatus } from '../beyla/supervisor.js';
import { countPorts, mergeRanges } from '../config/ports.js';
import type { Snapshot } from '../config/types.js';

export interface StatusLineInput {
  generation: number;
  services: number;
  ports: number;
  beyla: SupervisorStatus;
  rejected: number;
  starting: boolean;
  /** Running on the saved last good configuration because coral.yaml is invalid. */
  degraded?: { error: string; savedAt: string } | undefined;
}

/** A reason's first line: its hint lines are for the CLI and the log, STATUS= is one line. */
function firstLine(text: string | undefined): string | undefined {
  return text?.split('\n', 1)[0]?.trim();
}

function beylaPart(beyla: SupervisorStatus): string {
  const reason = firstLine(beyla.reason);
  const active = beyla.instances.find((i) => i.role === 'active');
  const pid = active?.pid ? ` (pid ${active.pid})` : '';
  switch (beyla.state) {
    case 'ready': return `beyla ready${pid}`;
    case 'swapping': return `beyla swapping${pid}`;
    case 'starting': return 'beyla starting';
    case 'idle': return 'beyla idle (no services)';
    case 'disabled': return 'beyla disabled';
    case 'stopping': return 'beyla stopping';
    case 'stopped': return 'beyla stopped';
    case 'unavailable': return `beyla unavailable: ${reason ?? 'unknown reason'}`;
    case 'degraded': return `beyla degraded${pid}: ${reason ?? `${beyla.consecutiveCrashes} crashes`}`;
  }
}

export function formatStatusLine(input: StatusLineInput): string {
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const head = input.starting ? 'starting' : `gen ${input.generation}`;
  const parts = [`${head}: ${plural(input.services, 'service')}, ${plural(input.ports, 'port')}`, beylaPart(input.beyla)];
  if (input.rejected > 0) parts.push(`${plural(input.rejected, 'file')} rejected`);
  const line = parts.join('; ');
  return input.degraded ? `DEGRADED (${input.degraded.error}; on the last good config of ${input.degraded.savedAt}) ${line}` : line;
}

/**
 * A snapshot's services, ports and rejected files for STATUS=, worked out once per snapshot: every
 * change of Beyla's state (a stop makes several) sends STATUS=, and merging 20,000 services' ports
 * each time (with two more copies of the supervisor's status) took 170-210 ms of the stop.
 */
export class SnapshotCounts {
  private last: { snapshot: Snapshot | undefined; counts: { services: number; ports: number; rejected: number } } | undefined;

  of(snapshot: Snapshot | undefined): { services: number; ports: number; rejected: number } {
    if (this.last && this.last.snapshot === snapshot) return this.last.counts;
    const counts = {
      services: snapshot?.services.length ?? 0,
      ports: countPorts(mergeRanges((snapshot?.services ?? []).flatMap((s) => s.ports))),
      rejected: (snapshot?.files ?? []).filter((f) => f.status !== 'valid').length,
    };
    this.last = { snapshot, counts };
    return counts;
  }
}
