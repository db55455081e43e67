// The moves step() is made of: start a candidate, promote, retire, record a crash (acting on a plan: act.ts; a failed candidate: finish-failure.ts).
import { addCrash } from './crash-policy.js';
import { activeOf, arm, candidateOf, disarm, log, resolve, type Draft } from './draft.js';
import { dropSurvivor, retireSurvivors } from './survivors.js';
import type { Active, Candidate, RestartReason, Survivor, Target } from './types.js';

export { activeOf, arm, candidateOf, disarm, liveGenerations, log, resolve, type Draft } from './draft.js';

function graceMs(d: Draft, target: Target): number {
  return target.settings.shutdownTimeoutMs + d.s.timing.stopMarginMs;
}

/** Asks an instance to exit (SIGTERM and grace, or SIGKILL at once when hung) and keeps it as retiring until it has. */
export function retire(d: Draft, generation: number, pid: number | null, target: Target, hung: boolean): void {
  d.s = { ...d.s, retiring: [...d.s.retiring.filter((r) => r.generation !== generation), { generation, pid, hung }] };
  d.fx.push(hung ? { type: 'kill', generation } : { type: 'terminate', generation, graceMs: graceMs(d, target) });
}

export function deactivate(d: Draft, active: Active): void {
  d.fx.push({ type: 'deactivate', generation: active.generation });
}

/** A new candidate (a spawn), or with `adopt` a survivor of a previous agent to verify instead (its own generation). */
export function startCandidate(d: Draft, opts: { target: Target; reason: RestartReason; why: 'change' | 'retry'; requests: number[]; adopt?: Survivor }): void {
  const adopt = opts.adopt;
  const generation = adopt ? adopt.generation : d.s.generation + 1;
  const candidate: Candidate = {
    generation, target: opts.target, reason: opts.reason, why: opts.why, requests: opts.requests,
    decidedAt: d.at, spawnedAt: null, pid: adopt ? adopt.pid : null, failure: null, exited: false, adopt: adopt !== undefined,
  };
  const p = d.s.phase;
  const active = activeOf(d.s);
  const phase = active ? { phase: 'swapping' as const, active, candidate } : { phase: 'starting' as const, candidate, crashed: p.phase === 'backoff' ? p.crashed : null };
  d.s = { ...d.s, generation: Math.max(d.s.generation, generation), phase, reason: adopt ? `adopting generation ${generation}` : `starting generation ${generation}` };
  if (adopt) {
    dropSurvivor(d, generation);
    d.fx.push({ type: 'adopt', generation, pid: adopt.pid, target: opts.target });
  } else {
    d.fx.push({ type: 'spawn', generation, target: opts.target, reason: opts.reason });
  }
}

/** Stops everything running (disable, nothing to run, stop). */
export function retireAll(d: Draft): void {
  const active = activeOf(d.s);
  const candidate = candidateOf(d.s);
  if (active) {
    deactivate(d, active);
    retire(d, active.generation, active.pid, active.target, active.hung !== null);
  }
  if (candidate && !candidate.exited) retire(d, candidate.generation, candidate.pid, candidate.target, false);
  retireSurvivors(d, active?.target ?? candidate?.target ?? null);
  disarm(d, 'restart');
  disarm(d, 'retry');
  disarm(d, 'stable');
}

export function recordCrash(d: Draft, target: Target, generation: number, what: string): void {
  const decision = addCrash(d.s.crashes, d.at, d.s.timing);
  const crashes = decision.record;
  const restartAt = d.at + decision.delayMs;
  log(d, 'warn', 'Beyla restart scheduled', { generation, consecutive_crashes: crashes.consecutive, restart_in_ms: decision.delayMs, circuit_open: crashes.circuitOpen });
  if (decision.opened) log(d, 'error', 'Beyla keeps crashing: circuit open, retrying slowly', { crashes: crashes.consecutive, retry_in_ms: decision.delayMs });
  const reason = crashes.circuitOpen
    ? `circuit open after ${crashes.consecutive} crashes; next try in ${decision.delayMs} ms; last: ${what}`
    : `crashed (${what}); restarting in ${decision.delayMs} ms`;
  const crashed = { target, restartAt };
  const candidate = candidateOf(d.s);
  const phase = candidate ? { phase: 'starting' as const, candidate, crashed } : { phase: 'backoff' as const, crashed };
  d.s = { ...d.s, crashes, phase, reason };
  disarm(d, 'stable');
  arm(d, 'restart', restartAt);
}

/** The candidate is ready: it becomes the active instance; the old one is stopped; the requests answered once it is gone. */
export function promote(d: Draft, candidate: Candidate): void {
  const old = activeOf(d.s);
  const startedAt = candidate.spawnedAt ?? d.at;
  const active: Active = { generation: candidate.generation, target: candidate.target, pid: candidate.pid, startedAt, livenessFailures: 0, ownFaults: { count: 0, resources: false }, hung: null };
  const durationMs = d.at - candidate.decidedAt;
  d.s = {
    ...d.s,
    phase: { phase: 'ready', active },
    retryAttempt: 0,
    reason: null,
    lastSwap: { generation: active.generation, result: candidate.adopt ? 'adopted' : old ? 'swapped' : 'started', at: new Date(d.at).toISOString(), durationMs },
  };
  disarm(d, 'restart');
  disarm(d, 'retry');
  d.fx.push({ type: 'promote', generation: active.generation, seq: active.target.seq });
  if (!candidate.adopt) d.fx.push({ type: 'observe-swap', seconds: durationMs / 1000 });
  if (old || candidate.reason === 'crash') d.fx.push({ type: 'count-restart', reason: candidate.reason });
  const what = candidate.adopt ? 'Beyla generation adopted from a previous agent' : 'Beyla generation promoted';
  log(d, 'info', what, { generation: active.generation, pid: active.pid, duration_ms: durationMs, replaced_generation: old?.generation, open_ports: active.target.portsString });
  retireSurvivors(d, active.target); // make-before-break: what a previous agent left runs until now
  if (d.s.crashes.consecutive > 0) arm(d, 'stable', startedAt + d.s.timing.stableResetMs);
  const spawnMs = candidate.spawnedAt === null ? undefined : candidate.spawnedAt - candidate.decidedAt;
  if (old) {
    retire(d, old.generation, old.pid, old.target, old.hung !== null);
    d.s = { ...d.s, waiters: [...d.s.waiters, { requests: candidate.requests, result: 'swapped', ...(spawnMs === undefined ? {} : { spawnMs }), afterExit: [old.generation] }] };
  } else {
    resolve(d, candidate.requests, 'started', undefined, spawnMs);
  }
}
