// What `coral connect` and `coral disconnect` print about an outcome: one place, so the agent's fast path and the full command say the same words.
import { formatRanges } from '../config/ports.js';
import type { HealthCheck, Service } from '../config/types.js';
import type { ConnectOutcome, DisconnectVerdict } from '../store/edit-services.js';
import type { Io } from './io.js';

/** Beyla's state as the agent reports it (status, or the reply to an edit). */
export interface BeylaBrief {
  state: string;
  reason?: string | undefined;
  generation?: number | undefined;
}

function where(s: Service): string {
  return `${s.source.file}:${s.source.line}`;
}

export function portWords(service: Service): string {
  const text = formatRanges(service.ports);
  return service.ports.length === 1 && service.ports[0]!.from === service.ports[0]!.to ? `port ${text}` : `ports ${text}`;
}

export function describeHealth(health: HealthCheck, service: Service): string {
  if (health.kind === 'none') return 'disabled (health: none)';
  if (health.kind === 'http') return `enabled (http ${health.path ?? '/'})`;
  return `enabled (tcp port ${service.ports[0]?.from ?? '?'})`;
}

function healthWords(health: HealthCheck): string {
  const base = health.kind === 'http' ? `http ${health.path ?? '/'}` : health.kind;
  return health.kind === 'none' ? base : `${base} every ${health.intervalMs / 1000}s, timeout ${health.timeoutMs / 1000}s`;
}

/** Every field a reconnect changes besides the ports (those are on the first line), one line each. */
export function fieldChanges(before: Service, after: Service): string[] {
  const out: string[] = [];
  if ((before.exe ?? '') !== (after.exe ?? '')) {
    out.push(`  exe: ${before.exe ?? 'none'} -> ${after.exe ?? 'none (any process on these ports)'}`);
  }
  if (healthWords(before.health) !== healthWords(after.health)) out.push(`  health: ${healthWords(before.health)} -> ${healthWords(after.health)}`);
  if ((before.type ?? '') !== (after.type ?? '')) out.push(`  type: ${before.type ?? 'none'} -> ${after.type ?? 'none'}`);
  return out;
}

export function beylaLine(beyla: BeylaBrief, debounceMs: number, changed: boolean): string {
  if (beyla.state === 'disabled') return `eBPF metrics: disabled (${beyla.reason ?? 'agent.beyla.enabled is false'})`;
  if (beyla.state === 'unavailable') return `eBPF metrics: unavailable (${beyla.reason ?? 'Beyla cannot run'})`;
  if (!changed) return `eBPF metrics: enabled (Beyla ${beyla.state}${beyla.generation === undefined ? '' : `, generation ${beyla.generation}`})`;
  return `eBPF metrics: enabled (Beyla restart scheduled in ${Math.round(debounceMs / 100) / 10}s)`;
}

/** The lines about the file: connected, updated (with every changed field) or unchanged; warnings; the health check. */
export function reportConnect(io: Io, service: Service, outcome: ConnectOutcome): void {
  if (!outcome.changed) {
    io.out(`Service ${service.name} is already connected on ${portWords(service)} (${outcome.path} unchanged)`);
  } else if (outcome.previous) {
    const was = formatRanges(outcome.previous.ports) === formatRanges(service.ports) ? '' : ` (was ${portWords(outcome.previous)})`;
    io.out(`Updated service ${service.name} on ${portWords(service)}${was}`);
    for (const line of fieldChanges(outcome.previous, service)) io.out(line);
  } else {
    io.out(`Connected service ${service.name} on ${portWords(service)}`);
  }
  if (outcome.forced) io.err(`warning: --force: replaced ${outcome.path}, which ${outcome.forced}`);
  if (outcome.overridden) io.err(`warning: this replaces the definition of "${service.name}" in ${where(outcome.overridden)} while ${outcome.path} exists`);
  io.out(`Health monitoring: ${describeHealth(service.health, service)}`);
}

/** The lines about a removal; returns false when nothing was removed (and nothing more is to be said). */
export function reportDisconnect(io: Io, opts: { name: string; path: string | undefined; verdict: DisconnectVerdict; removed: boolean }): boolean {
  const { name, verdict } = opts;
  if (verdict.kind === 'absent' || !opts.removed || opts.path === undefined) {
    const guess = verdict.kind === 'absent' && verdict.guess ? ` (did you mean "${verdict.guess}"?)` : '';
    io.out(`Service ${name} is not connected; nothing to remove${guess}`);
    return false;
  }
  io.out(`Disconnected service ${name} (removed ${opts.path})`);
  if (verdict.restored) io.out(`Its definition in ${where(verdict.restored)} applies again`);
  return true;
}

/** The line after a removal: when Beyla will drop the ports. */
export function disconnectBeylaLine(beyla: BeylaBrief, debounceMs: number): string | undefined {
  if (beyla.state === 'disabled' || beyla.state === 'unavailable') return undefined;
  return `eBPF metrics: Beyla restart scheduled in ${Math.round(debounceMs / 100) / 10}s`;
}
