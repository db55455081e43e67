// The moves step() is made of: act on a plan, start a candidate, promote, retire, record a crash, finish a failed candidate.
import { addCrash, backoffMs } from './crash-policy.js';
import { dropSurvivor, matchingSurvivor, retireSurvivors } from './survivors.js';
import type { Active, ApplyResult, Candidate, Effect, LifecycleState, LogLevel, Plan, RestartReason, Survivor, Target, TimerName } from './types.js';

/** A working copy of the state for one step: top-level fields are replaced, nested values never mutated. */
export interface Draft {
  s: LifecycleState;
  fx: Effect[];
  at: number;
}

export function log(d: Draft, level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  d.fx.push({ type: 'log', level, msg, fields });
}

export function arm(d: Draft, timer: TimerName, at: number): void {
  d.s = { ...d.s, timers: { ...d.s.timers, [timer]: at } };
  d.fx.push({ type: 'arm', timer, at });
}

export function disarm(d: Draft, timer: TimerName): void {
  if (d.s.timers[timer] === undefined) return;
  const timers = { ...d.s.timers };
  delete timers[timer];
  d.s = { ...d.s, timers };
  d.fx.push({ type: 'disarm', timer });
}

export function resolve(d: Draft, requests: number[], result: ApplyResult, error?: string, spawnMs?: number): void {
  if (requests.length === 0) return;
  d.fx.push({ type: 'resolve', requests, result, ...(error === undefined ? {} : { error }), ...(spawnMs === undefined ? {} : { spawnMs }) });
}

export function activeOf(s: LifecycleState): Active | null {
  const p = s.phase;
  return p.phase === 'ready' || p.phase === 'swapping' ? p.active : p.phase === 'unavailable' ? p.active : null;
}

export function candidateOf(s: LifecycleState): Candidate | null {
  const p = s.phase;
  return p.phase === 'starting' || p.phase === 'swapping' ? p.candidate : null;
}

/** Generations still running: active, candidate, retiring, survivors of a previous agent. */
export function liveGenerations(s: LifecycleState): number[] {
  const active = activeOf(s);
  const candidate = candidateOf(s);
  return [
    ...(active ? [active.generation] : []), ...(candidate && !candidate.exited ? [candidate.generation] : []),
    ...s.retiring.map((r) => r.generation), ...s.survivors.map((r) => r.generation),
  ];
}

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
  const what = candidate.adopt ? 'Beyla generation adopted from a previous agent (its output is not read)' : 'Beyla generation promoted';
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

/** A failed candidate has exited (or never ran): answer its requests and decide what comes next. */
export function finishFailure(d: Draft, candidate: Candidate): void {
  const failure = candidate.failure ?? { message: 'Beyla candidate failed', cannotRun: false };
  const p = d.s.phase;
  const active = activeOf(d.s);
  const crashed = p.phase === 'starting' ? p.crashed : null;
  const spawnMs = candidate.spawnedAt === null ? undefined : candidate.spawnedAt - candidate.decidedAt;
  d.s = { ...d.s, lastSwap: { generation: candidate.generation, result: 'failed', error: failure.message, at: new Date(d.at).toISOString(), durationMs: d.at - candidate.decidedAt } };
  if (crashed && d.s.timers.restart === undefined) arm(d, 'restart', Math.max(d.at, crashed.restartAt));
  if (active?.hung) {
    // No replacement: a hung Beyla is no better than none. Kill it and go the crash way (backoff).
    d.s = { ...d.s, phase: { phase: 'idle' } };
    deactivate(d, active);
    retire(d, active.generation, active.pid, active.target, true);
    recordCrash(d, active.target, active.generation, `unresponsive (${active.hung}); its replacement failed: ${failure.message}`);
  } else if (candidate.reason === 'crash') {
    d.s = { ...d.s, phase: active ? { phase: 'ready', active } : { phase: 'idle' } };
    recordCrash(d, candidate.target, candidate.generation, failure.message);
  } else if (failure.cannotRun) {
    d.s = { ...d.s, phase: crashed ? { phase: 'backoff', crashed } : { phase: 'unavailable', active }, binaryMissing: true, reason: failure.message };
    arm(d, 'recheck', d.at + d.s.timing.binaryRecheckMs);
  } else {
    const retryAttempt = d.s.retryAttempt + 1;
    const retryAt = d.at + backoffMs(retryAttempt, d.s.timing.swapRetryInitialMs, d.s.timing.swapRetryMaxMs);
    const phase = crashed ? { phase: 'backoff' as const, crashed } : active ? { phase: 'ready' as const, active } : { phase: 'failed' as const };
    d.s = { ...d.s, phase, retryAttempt, reason: crashed ? d.s.reason : failure.message };
    log(d, 'warn', 'will retry the Beyla swap', { retry_in_ms: retryAt - d.at, why: candidate.why });
    arm(d, 'retry', retryAt);
  }
  resolve(d, candidate.requests, 'failed', failure.message, spawnMs);
}

/** Acts on the newest desired state; only called while no candidate is in flight. */
export function act(d: Draft, plan: Plan, requests: number[], why: 'change' | 'retry'): void {
  if (why === 'change') {
    d.s = { ...d.s, retryAttempt: 0 };
    disarm(d, 'retry');
  }
  const active = activeOf(d.s);
  const p = d.s.phase;
  switch (plan.kind) {
    case 'disabled':
    case 'empty': {
      const wasRunning = active !== null || p.phase === 'backoff';
      retireAll(d);
      d.s = plan.kind === 'disabled'
        ? { ...d.s, phase: { phase: 'disabled' }, reason: 'agent.beyla.enabled is false' }
        : { ...d.s, phase: { phase: 'idle' }, reason: 'no services to instrument (agent.beyla.when_empty: stop)' };
      const result: ApplyResult = plan.kind === 'disabled' ? 'disabled' : wasRunning ? 'stopped' : 'unchanged';
      d.s = { ...d.s, waiters: [...d.s.waiters, { requests, result, afterExit: liveGenerations(d.s) }] };
      return;
    }
    case 'missing-binary':
      if (!d.s.binaryMissing) log(d, 'error', plan.message, { binary: plan.binary, ...(plan.hint ? { hint: plan.hint } : {}) });
      disarm(d, 'restart');
      d.s = { ...d.s, phase: { phase: 'unavailable', active }, binaryMissing: true, reason: plan.message };
      arm(d, 'recheck', d.at + d.s.timing.binaryRecheckMs);
      resolve(d, requests, 'unavailable', plan.message);
      return;
    case 'invalid':
      log(d, 'error', 'cannot render the Beyla config', { error: plan.message });
      d.s = { ...d.s, phase: active ? { phase: 'ready', active } : p.phase === 'backoff' ? p : { phase: 'failed' }, reason: plan.message };
      resolve(d, requests, 'failed', plan.message);
      return;
    case 'run':
      break;
  }
  const { target } = plan;
  if (d.s.binaryMissing) log(d, 'info', 'Beyla binary found', { binary: target.binary });
  d.s = { ...d.s, binaryMissing: false };
  disarm(d, 'recheck');
  const survivor = active ? undefined : matchingSurvivor(d, target);
  if (survivor) {
    startCandidate(d, { target, reason: 'config_change', why, requests, adopt: survivor });
    return;
  }
  if (active && active.target.key === target.key) {
    d.s = { ...d.s, phase: { phase: 'ready', active: { ...active, target } }, reason: null };
    resolve(d, requests, 'unchanged');
    return;
  }
  if (!active && p.phase === 'backoff' && p.crashed.target.key === target.key) {
    resolve(d, requests, 'failed', `Beyla crashed; restart of the same config scheduled in ${Math.max(0, p.crashed.restartAt - d.at)} ms`);
    return;
  }
  startCandidate(d, { target, reason: 'config_change', why, requests });
}
