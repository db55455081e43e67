// The instrumentation part of `coral status`: a candidate's handover progress, a first instance promoted at the deadline, and per service the generation and pids that instrument it.
import type { AgentStatus, ServiceInstrumentation } from './coral-fetch-status.js';

/** At most this many missing processes or pids on their own; the rest are counted. */
const SHOWN = 6;

const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 'es'}`;

function capped(items: string[], join: string): string {
  const shown = items.slice(0, SHOWN).join(join);
  return items.length > SHOWN ? `${shown}${join}and ${items.length - SHOWN} more` : shown;
}

/** "candidate 7: 3 of 5 processes instrumented, 12 s" and a line per process still missing ("api pid 4121 port 8080"). */
export function handoverLines(beyla: AgentStatus['beyla']): string[] {
  const h = beyla.handover;
  const candidate = beyla.instances.find((i) => i.role === 'candidate');
  if (!h || !candidate || (h.generation !== undefined && h.generation !== candidate.generation)) return [];
  const generation = h.generation ?? candidate.generation ?? '?';
  const elapsed = `${Math.floor((h.elapsedMs ?? 0) / 1000)} s`;
  if (h.expected === 0) return [`  candidate ${generation}: no selected process listens yet, nothing to take over, ${elapsed}`];
  const lines = [`  candidate ${generation}: ${h.instrumented} of ${plural(h.expected, 'process')} instrumented, ${elapsed}`];
  const missing = h.missing.slice(0, SHOWN).map((m) => `    not yet instrumented: ${m}`);
  if (h.missing.length > SHOWN) missing.push(`    ... and ${h.missing.length - SHOWN} more`);
  return [...lines, ...missing];
}

/** The first instance promoted at the readiness deadline (there was no older one to keep): said plainly, with what it missed. */
export function promotedAtDeadlineLines(beyla: AgentStatus['beyla']): string[] {
  const p = beyla.promotedAtDeadline;
  if (!p) return [];
  return [
    `  WARNING: generation ${p.generation ?? '?'} was promoted at the readiness deadline without instrumenting every listener (no older Beyla to keep serving):`,
    ...p.missing.map((m) => `    ${m}`),
  ];
}

function listenerText(c: ServiceInstrumentation, pid: number): string {
  const ports = c.listeners.find((l) => l.pid === pid)?.ports ?? [];
  return ports.length === 0 ? `pid ${pid}` : `pid ${pid} (port${ports.length === 1 ? '' : 's'} ${ports.join(', ')})`;
}

function serviceText(c: ServiceInstrumentation, portsText: string | undefined): string {
  if (c.pids.length === 0) return `no process listens on ${portsText ? `port${/[,-]/.test(portsText) ? 's' : ''} ${portsText}` : 'its ports'}`;
  const done = c.instrumentedPids.filter((pid) => c.pids.includes(pid));
  const missing = c.pids.filter((pid) => !done.includes(pid));
  const parts: string[] = [];
  if (done.length > 0) parts.push(`generation ${c.generation ?? '?'}: ${capped(done.map((pid) => listenerText(c, pid)), ', ')}`);
  if (missing.length > 0) {
    const none = !c.generation ? ' (no Beyla running)' : '';
    parts.push(`not instrumented${none}: ${capped(missing.map((pid) => listenerText(c, pid)), ', ')}`);
  }
  return parts.join('; ');
}

/** "Instrumentation:" and one line per configured service; nothing from an agent that does not report it. */
export function instrumentationLines(s: AgentStatus): string[] {
  const services = s.beyla.services;
  if (!services || services.length === 0) return [];
  const width = Math.max(...services.map((c) => c.service.length));
  const portsOf = (name: string): string | undefined => s.desired.services.find((d) => d.name === name)?.ports;
  return [
    'Instrumentation (processes listening on each service\'s ports):',
    ...services.map((c) => `  ${c.service.padEnd(width)}  ${serviceText(c, portsOf(c.service))}`),
  ];
}
