// GET /v1/status from the agent, read defensively into a typed shape (missing fields become empty values, never crashes).
import { parsePortItem, mergeRanges } from '../config/ports.js';
import type { Diagnostic, PortRange } from '../config/types.js';
import { controlRequest } from '../control/control-request.js';
import { CoralError } from '../errors.js';

export interface BeylaInstanceStatus { generation?: number; pid?: number; role?: string; ports?: unknown; version?: string; adopted?: boolean }
export interface SwapStatus { generation?: number; result?: string; error?: string; at?: string; durationMs?: number }
/** A candidate's way to taking over (beyla.handover): how many of the processes it must instrument it has, and which are missing. */
export interface HandoverStatus { generation?: number; instrumented: number; expected: number; missing: string[]; elapsedMs?: number }
/** Per configured service (beyla.services): the processes listening on its ports, and those the active generation instruments. */
export interface ServiceInstrumentation { service: string; generation?: number; pids: number[]; instrumentedPids: number[]; listeners: { pid: number; ports: number[] }[] }
export interface HealthStatus { state?: string; kind?: string; target?: string; lastError?: string }

/** What the agent is doing now (see src/daemon/daemon-phase.ts); absent from agents that predate it. */
export interface PhaseStatus { name: string; inMs?: number; generation?: number; from?: number }

export interface AgentStatus {
  state: string;
  generation?: number;
  phase?: PhaseStatus;
  /** Running on the saved last good configuration: why. */
  degraded?: { reason: string };
  pid?: number;
  startedAt?: string;
  desired: { ports: string; services: { name: string; ports: string; source?: string; health?: string }[] };
  applied?: { ports: string; generation?: number; at?: string };
  pending: boolean;
  beyla: {
    state: string; reason?: string; generation?: number; instances: BeylaInstanceStatus[]; lastSwap?: SwapStatus;
    handover?: HandoverStatus;
    /** Absent from agents that predate it. */
    services?: ServiceInstrumentation[];
    /** The first instance was promoted at the readiness deadline without instrumenting these. */
    promotedAtDeadline?: { generation?: number; missing: string[] };
  };
  /** status 'stale': invalid now, its last good services (by name) still in effect; since: when it turned invalid. */
  rejected: { file: string; status?: string; since?: string; services: string[]; errors: Diagnostic[] }[];
  health: Record<string, HealthStatus>;
  /** The body as sent, for --json. */
  raw: unknown;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Obj : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Ports as "3000,8080-8089" whether the agent sent that string, a list of ports and ranges, or {from, to} objects. */
function portsText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return list(v).map((item) => {
    if (typeof item === 'number' || typeof item === 'string') return String(item);
    const from = num(obj(item).from);
    const to = num(obj(item).to);
    return from === undefined ? '' : to === undefined || to === from ? String(from) : `${from}-${to}`;
  }).filter((p) => p !== '').join(',');
}

/** Keep only the defined fields, so optional properties stay absent rather than `undefined`. */
function defined<T extends Obj>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function diagnostic(v: unknown, file: string): Diagnostic {
  const d = obj(v);
  return defined({
    file: str(d.file) ?? file, line: num(d.line) ?? 0, col: num(d.col) ?? 0,
    severity: d.severity === 'warning' ? 'warning' as const : 'error' as const,
    message: str(d.message) ?? (typeof v === 'string' ? v : JSON.stringify(v)),
    hint: str(d.hint),
  });
}

const pids = (v: unknown): number[] => list(v).map(num).filter((n): n is number => n !== undefined);
const strings = (v: unknown): string[] => list(v).map(str).filter((t): t is string => t !== undefined);

function readHandover(v: unknown): HandoverStatus | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const h = obj(v);
  return defined({ generation: num(h.generation), instrumented: num(h.instrumented) ?? 0, expected: num(h.expected) ?? 0, missing: strings(h.missing), elapsedMs: num(h.elapsedMs) });
}

function readServices(v: unknown): ServiceInstrumentation[] | undefined {
  if (!Array.isArray(v)) return undefined;
  return v.map((item) => {
    const c = obj(item);
    return defined({
      service: str(c.service) ?? '', generation: num(c.generation), pids: pids(c.pids), instrumentedPids: pids(c.instrumentedPids),
      listeners: list(c.listeners).map((l) => ({ pid: num(obj(l).pid) ?? 0, ports: pids(obj(l).ports) })).filter((l) => l.pid > 0),
    });
  });
}

export function readAgentStatus(body: unknown): AgentStatus {
  const b = obj(body);
  const desired = obj(b.desired);
  const beyla = obj(b.beyla);
  const applied = b.applied === undefined || b.applied === null ? undefined : obj(b.applied);
  const swap = beyla.lastSwap === undefined || beyla.lastSwap === null ? undefined : obj(beyla.lastSwap);
  const phase = typeof b.phase === 'object' && b.phase !== null ? obj(b.phase) : undefined;
  const health: Record<string, HealthStatus> = {};
  for (const [name, value] of Object.entries(obj(b.health))) {
    const h = obj(value);
    health[name] = defined({ state: str(h.state), kind: str(h.kind), target: str(h.target), lastError: str(h.lastError) });
  }
  return defined({
    state: str(b.state) ?? 'unknown',
    generation: num(b.generation),
    phase: phase && str(phase.name) !== undefined
      ? defined({ name: str(phase.name)!, inMs: num(phase.inMs), generation: num(phase.generation), from: num(phase.from) })
      : undefined,
    degraded: typeof b.degraded === 'object' && b.degraded !== null ? { reason: str(obj(b.degraded).reason) ?? 'coral.yaml is invalid' } : undefined,
    pid: num(b.pid),
    startedAt: str(b.startedAt),
    desired: {
      ports: portsText(desired.ports),
      services: list(desired.services).map((s) => defined({ name: str(obj(s).name) ?? '', ports: portsText(obj(s).ports), source: str(obj(s).source), health: str(obj(s).health) })),
    },
    applied: applied && defined({ ports: portsText(applied.ports), generation: num(applied.generation), at: str(applied.at) }),
    pending: b.pending === true,
    beyla: defined({
      state: str(beyla.state) ?? 'unknown',
      reason: str(beyla.reason),
      generation: num(beyla.generation),
      instances: list(beyla.instances).map((i) => defined({ generation: num(obj(i).generation), pid: num(obj(i).pid), role: str(obj(i).role), ports: obj(i).ports, version: str(obj(i).version), adopted: obj(i).adopted === true ? true : undefined })),
      lastSwap: swap && defined({ generation: num(swap.generation), result: str(swap.result), error: str(swap.error), at: str(swap.at), durationMs: num(swap.durationMs) }),
      handover: readHandover(beyla.handover),
      services: readServices(beyla.services),
      promotedAtDeadline: typeof beyla.promotedAtDeadline === 'object' && beyla.promotedAtDeadline !== null
        ? defined({ generation: num(obj(beyla.promotedAtDeadline).generation), missing: strings(obj(beyla.promotedAtDeadline).missing) })
        : undefined,
    }),
    rejected: list(b.rejected).map((r) => {
      const file = str(obj(r).file) ?? '(unknown file)';
      return defined({
        file, status: str(obj(r).status), since: str(obj(r).since),
        services: list(obj(r).services).map(str).filter((n): n is string => n !== undefined),
        errors: list(obj(r).errors).map((e) => diagnostic(e, file)),
      });
    }),
    health,
    raw: body,
  });
}

/** "3000,8080-8089" -> ranges; parts that are not ports are skipped (the agent's text, not ours to reject). */
export function portsOf(text: string): PortRange[] {
  const ranges: PortRange[] = [];
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const parsed = parsePortItem(part.trim().replace(/\s+/g, ''));
    if (!('error' in parsed)) ranges.push(parsed);
  }
  return mergeRanges(ranges);
}

/** Whether every port of `wanted` is inside `have`. */
export function coversPorts(have: readonly PortRange[], wanted: readonly PortRange[]): boolean {
  return wanted.every((w) => have.some((h) => h.from <= w.from && w.to <= h.to));
}

export async function fetchAgentStatus(opts: { socketPath: string; timeoutMs?: number }): Promise<AgentStatus> {
  const response = await controlRequest({ socketPath: opts.socketPath, method: 'GET', path: '/v1/status', timeoutMs: opts.timeoutMs ?? 5000 });
  if (response.status !== 200) {
    const body = obj(response.body);
    throw new CoralError('TEMPORARY', `coral-agent answered HTTP ${response.status} to GET /v1/status: ${str(body.error) ?? str(body.message) ?? 'no reason given'}`, {
      hint: 'see: journalctl -u coral-agent', details: { status: response.status },
    });
  }
  return readAgentStatus(response.body);
}
