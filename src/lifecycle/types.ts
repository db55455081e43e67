// The Beyla lifecycle as data: the state (one value, a union per phase), the events that move it, the effects it asks for.
import type { BeylaSettings } from '../config/types.js';
import type { DesiredState } from '../plan/types.js';
import type { CrashRecord } from './crash-policy.js';
import type { SupervisorTiming } from './timing.js';

export type RestartReason = 'config_change' | 'crash' | 'unresponsive';

/** The state a user sees (status, STATUS=, coral status). */
export type SupervisorState = 'idle' | 'starting' | 'swapping' | 'ready' | 'degraded' | 'unavailable' | 'stopping' | 'stopped' | 'disabled';

/**
 * A warning the status carries until another reason replaces it: the first instance was promoted at
 * the readiness deadline without instrumenting `missing` (there was no older one to keep serving).
 * `code` is what code and tests match on; `message` is the wording for people.
 */
export interface PromotedAtDeadline {
  code: 'promoted_at_deadline';
  generation: number;
  /** "api pid 4121 port 8080 not instrumented after 45 s", one per process missed. */
  missing: string[];
  message: string;
}

export type ApplyResult = 'unchanged' | 'swapped' | 'started' | 'stopped' | 'failed' | 'unavailable' | 'superseded' | 'disabled';

/** What to run: one desired state, keyed by its rendered config (placeholder instance ports, binary, env). */
export interface Target {
  /** Order of the desired state it came from: a newer one has a higher seq. */
  seq: number;
  desired: DesiredState;
  settings: BeylaSettings;
  /** Resolved binary path. */
  binary: string;
  key: string;
  /** sha256 of `key`: written to each instance's pid record, so a later agent can tell what a survivor runs. */
  digest: string;
  portsString: string;
  portsCount: number;
}

/** A desired state as the driver found it: something to run, or why not. */
export type Plan =
  | { kind: 'run'; target: Target }
  | { kind: 'empty' }
  | { kind: 'disabled' }
  | { kind: 'missing-binary'; binary: string; message: string; hint?: string }
  | { kind: 'invalid'; message: string };

export interface Active {
  generation: number;
  target: Target;
  pid: number | null;
  startedAt: number;
  livenessFailures: number;
  /**
   * Probes since its last answer that failed for the agent's own reasons (out of file descriptors,
   * its event loop stalled): never counted against Beyla. `resources` once one was a lack of fds,
   * sockets or memory, which may have cost config watch events too.
   */
  ownFaults: { count: number; resources: boolean };
  /** Why it counts as hung (no longer answering /healthz): replaced, then SIGKILLed. */
  hung: string | null;
}

export interface Candidate {
  generation: number;
  target: Target;
  reason: RestartReason;
  why: 'change' | 'retry';
  /** apply() requests this candidate answers. */
  requests: number[];
  decidedAt: number;
  spawnedAt: number | null;
  pid: number | null;
  /** Set once it failed readiness; it keeps the candidate slot until it has exited. */
  failure: { message: string; cannotRun: boolean } | null;
  exited: boolean;
  /** A survivor of a previous agent being verified for adoption (not spawned: the driver attaches to it). */
  adopt: boolean;
}

/** A Beyla a previous agent left running on this runtime dir: kept until something is ready, then stopped (or adopted). */
export interface Survivor {
  generation: number;
  pid: number;
  /** The digest of the config it runs (Target.digest, from its pid record); null when the record has none (never adopted). */
  digest: string | null;
  /** False once its verification failed: then it only bridges until a new instance is ready. */
  adoptable: boolean;
}

/** An instance asked to exit and not yet gone. */
export interface Retiring {
  generation: number;
  pid: number | null;
  hung: boolean;
}

/** A crashed active instance's config, restarted when the restart timer fires. */
export interface Crashed {
  target: Target;
  restartAt: number;
}

export type Phase =
  | { phase: 'idle' }
  | { phase: 'disabled' }
  | { phase: 'starting'; candidate: Candidate; crashed: Crashed | null }
  | { phase: 'ready'; active: Active }
  | { phase: 'swapping'; active: Active; candidate: Candidate }
  | { phase: 'backoff'; crashed: Crashed }
  | { phase: 'failed' }
  | { phase: 'unavailable'; active: Active | null }
  | { phase: 'stopping' }
  | { phase: 'stopped' };

export type PhaseName = Phase['phase'];
export const PHASES: readonly PhaseName[] = ['idle', 'disabled', 'starting', 'ready', 'swapping', 'backoff', 'failed', 'unavailable', 'stopping', 'stopped'];

export type TimerName = 'restart' | 'retry' | 'recheck' | 'stable';

export interface SwapRecord {
  generation: number;
  result: 'started' | 'swapped' | 'adopted' | 'failed';
  error?: string;
  at: string;
  durationMs: number;
}

/** apply() requests answered once every listed generation has exited. */
export interface Waiter {
  requests: number[];
  result: ApplyResult;
  error?: string;
  spawnMs?: number;
  afterExit: number[];
}

export interface LifecycleState {
  phase: Phase;
  timing: SupervisorTiming;
  /** Last generation number handed out. */
  generation: number;
  retiring: Retiring[];
  /** Beyla instances a previous agent left running, not adopted: stopped once an instance of ours is ready. */
  survivors: Survivor[];
  /** The newest desired state, waiting for the candidate slot. */
  pending: { plan: Plan; requests: number[]; why: 'change' | 'retry' } | null;
  waiters: Waiter[];
  crashes: CrashRecord;
  retryAttempt: number;
  /** Armed timers and when they are due. */
  timers: Partial<Record<TimerName, number>>;
  binaryMissing: boolean;
  lastSwap: SwapRecord | null;
  /** Why the state is what it is, in words, or the structured warning of a first instance promoted at the deadline. */
  reason: string | PromotedAtDeadline | null;
}

export type LifecycleEvent =
  | { type: 'desired'; at: number; requests: number[]; why: 'change' | 'retry'; plan: Plan }
  | { type: 'spawned'; at: number; generation: number; pid: number | null }
  | { type: 'spawn-failed'; at: number; generation: number; message: string }
  | { type: 'ready'; at: number; generation: number; warning?: PromotedAtDeadline; handoverMs?: number }
  | { type: 'not-ready'; at: number; generation: number; message: string; cannotRun: boolean; reason?: string }
  | { type: 'exited'; at: number; generation: number; description: string; exitCode: number | null; signal: string | null }
  | { type: 'fatal'; at: number; generation: number; line: string }
  /** A liveness probe; `ownFault` (with ok false) when it failed for the agent's own reasons, not Beyla's. */
  | { type: 'liveness'; at: number; generation: number; ok: boolean; probe: string; detail: string; ownFault?: OwnFault }
  | { type: 'timer'; at: number; timer: TimerName }
  | { type: 'stop'; at: number }
  /** What the driver found at start: Beyla instances whose agent is gone (pid record, start time and command line checked). */
  | { type: 'survivors'; at: number; survivors: Array<Omit<Survivor, 'adoptable'>> };

/**
 * Why a probe said nothing about Beyla: the agent ran out of file descriptors (`emfile`, `enfile`),
 * of sockets or memory (`resources`), or its event loop stalled past the probe's deadline (`event_loop_lag`).
 */
export type OwnFault = 'emfile' | 'enfile' | 'resources' | 'event_loop_lag';
export const OWN_FAULTS: readonly OwnFault[] = ['emfile', 'enfile', 'resources', 'event_loop_lag'];

export type EventType = LifecycleEvent['type'];
export const EVENT_TYPES: readonly EventType[] = ['desired', 'spawned', 'spawn-failed', 'ready', 'not-ready', 'exited', 'fatal', 'liveness', 'timer', 'stop', 'survivors'];

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type Effect =
  | { type: 'spawn'; generation: number; target: Target; reason: RestartReason }
  /** Verify a survivor (pid, /healthz, what it instruments) and report it as a candidate ('spawned', then 'ready' or 'not-ready'). */
  | { type: 'adopt'; generation: number; pid: number; target: Target }
  /** The stable address now reads this instance, and its liveness probes start. */
  | { type: 'promote'; generation: number; seq: number }
  /** No active instance any more: scrapes get nothing, probes stop. */
  | { type: 'deactivate'; generation: number }
  /** SIGTERM, then SIGKILL after graceMs. */
  | { type: 'terminate'; generation: number; graceMs: number }
  | { type: 'kill'; generation: number }
  | { type: 'arm'; timer: TimerName; at: number }
  | { type: 'disarm'; timer: TimerName }
  | { type: 'resolve'; requests: number[]; result: ApplyResult; error?: string; spawnMs?: number }
  /** Turn the newest desired state into a plan again (binary lookup) and send it as a 'retry'. */
  | { type: 'replan' }
  | { type: 'count-restart'; reason: RestartReason }
  | { type: 'count-readiness-failure'; reason: string }
  /** A liveness probe that failed for the agent's own reasons. */
  | { type: 'count-own-fault'; reason: OwnFault }
  /** Re-read the whole configuration now: the agent was short of resources and may have lost watch events. */
  | { type: 'resync' }
  | { type: 'observe-swap'; seconds: number }
  /** From the candidate's spawn to it instrumenting what it must (handover readiness). */
  | { type: 'observe-handover'; seconds: number }
  | { type: 'log'; level: LogLevel; msg: string; fields: Record<string, unknown> };

export interface StepResult {
  state: LifecycleState;
  effects: Effect[];
}
