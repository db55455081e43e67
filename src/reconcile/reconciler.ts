// The single reconcile worker: coalesces triggers, debounces them, and runs one reconcile at a time.
import { CoralError } from '../errors.js';
import type { Logger } from '../log.js';

/** What one run is handed. It is never handed the events: it reads the whole current state. */
export interface ReconcileContext {
  /** Monotonic run id, also bound into `logger` as `reconcile_id`. */
  id: number;
  /** The distinct reasons merged into this run, joined with `, ` (the first few, then a count). */
  reason: string;
  /** Every distinct reason merged into this run, in first-seen order. */
  reasons: string[];
  logger: Logger;
  signal: AbortSignal;
}

/** What the daemon supplies: one full reconcile. */
export interface ReconcileDeps<R> {
  run(ctx: ReconcileContext): Promise<R>;
}

export interface ReconcilerOptions<R> {
  deps: ReconcileDeps<R>;
  /** Quiet time after the last trigger before a run starts. */
  debounceMs: number;
  /** Cap on the postponement since the first pending trigger. */
  maxWaitMs: number;
  logger: Logger;
  signal: AbortSignal;
  now?: () => number;
}

interface Waiter<R> {
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/** The one pending slot: everything asked for since the last run started. */
interface Pending<R> {
  reasons: Set<string>;
  firstAtMs: number;
  lastAtMs: number;
  immediate: boolean;
  waiters: Waiter<R>[];
}

const REASONS_SHOWN = 5;

/** A bounded one-line reason: a burst of 10,000 file events must not make a 10,000-item log line. */
function summarize(reasons: string[]): string {
  const shown = reasons.slice(0, REASONS_SHOWN).join(', ');
  return reasons.length > REASONS_SHOWN ? `${shown} (+${reasons.length - REASONS_SHOWN} more)` : shown;
}

function checkTiming(debounceMs: number, maxWaitMs: number): void {
  for (const [name, value] of [['debounceMs', debounceMs], ['maxWaitMs', maxWaitMs]] as const) {
    if (!Number.isFinite(value) || value < 0) {
      throw new CoralError('INTERNAL', `reconciler ${name} must be a finite number >= 0, got ${value}`);
    }
  }
}

/** What the reconciler is doing now, for the status document and `--wait` progress. */
export interface ReconcilerProgress {
  /** A run is in flight. */
  running: boolean;
  /** A change is waiting (for the debounce, or for the run in flight to finish). */
  pending: boolean;
  /** When the pending run starts (ms since the epoch), if it waits for the debounce or max_wait. */
  dueAtMs?: number;
}

export class Reconciler<R> {
  private readonly deps: ReconcileDeps<R>;
  private readonly logger: Logger;
  private readonly signal: AbortSignal;
  private readonly now: () => number;
  private debounceMs: number;
  private maxWaitMs: number;
  private pending: Pending<R> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];
  private nextId = 1;
  private completed = 0;
  private failed = 0;
  private closed = false;
  private readonly onAbort = (): void => this.shutDown();

  constructor(opts: ReconcilerOptions<R>) {
    checkTiming(opts.debounceMs, opts.maxWaitMs);
    this.deps = opts.deps;
    this.logger = opts.logger.child({ component: 'reconcile' });
    this.signal = opts.signal;
    this.now = opts.now ?? Date.now;
    this.debounceMs = opts.debounceMs;
    this.maxWaitMs = opts.maxWaitMs;
    if (this.signal.aborted) this.closed = true;
    else this.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Runs finished so far (successful or not). */
  get runs(): number {
    return this.completed;
  }

  /** Runs that threw. */
  get failures(): number {
    return this.failed;
  }

  progress(): ReconcilerProgress {
    const pending = this.pending;
    const running = this.inFlight !== undefined;
    if (!pending) return { running, pending: false };
    if (running || pending.immediate) return { running, pending: true };
    return { running, pending: true, dueAtMs: this.dueAtMs(pending) };
  }

  /** Ask for a reconcile soon: bursts coalesce into one run. No-op once closed. */
  trigger(reason: string): void {
    if (this.closed) return;
    this.addPending(reason);
    this.schedule();
  }

  /**
   * Ask for a reconcile now, skipping the debounce. Resolves with the result of a run that
   * started after this call (so it observes everything written before it); rejects with that
   * run's error, or with a TEMPORARY CoralError when the reconciler closes first.
   */
  triggerNow(reason: string): Promise<R> {
    if (this.closed) return Promise.reject(this.closedError());
    return new Promise<R>((resolve, reject) => {
      const pending = this.addPending(reason);
      pending.immediate = true;
      pending.waiters.push({ resolve, reject });
      this.schedule();
    });
  }

  /** Change the timing (the config may change it); applies to what is pending now. */
  setTiming(debounceMs: number, maxWaitMs: number): void {
    checkTiming(debounceMs, maxWaitMs);
    this.debounceMs = debounceMs;
    this.maxWaitMs = maxWaitMs;
    this.schedule();
  }

  /** Resolves once nothing is pending and nothing is in flight. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drop what is pending (its triggerNow callers are rejected) and await the in-flight run. */
  async close(): Promise<void> {
    this.shutDown();
    await this.inFlight;
  }

  private shutDown(): void {
    if (this.closed && !this.pending) return;
    this.closed = true;
    this.signal.removeEventListener('abort', this.onAbort);
    this.clearTimer();
    const dropped = this.pending;
    this.pending = undefined;
    for (const waiter of dropped?.waiters ?? []) waiter.reject(this.closedError());
    if (dropped) this.logger.debug({ reason: summarize([...dropped.reasons]) }, 'reconciler closed with a pending run; dropped');
    this.settleIdle();
  }

  private closedError(): CoralError {
    return new CoralError('TEMPORARY', 'the reconciler is shutting down', { hint: 'the agent is stopping; retry once it is back' });
  }

  private addPending(reason: string): Pending<R> {
    const nowMs = this.now();
    this.pending ??= { reasons: new Set(), firstAtMs: nowMs, lastAtMs: nowMs, immediate: false, waiters: [] };
    this.pending.lastAtMs = nowMs;
    this.pending.reasons.add(reason);
    return this.pending;
  }

  /** Decide when the pending slot runs: now, at a timer, or after the in-flight run. */
  private schedule(): void {
    this.clearTimer();
    const pending = this.pending;
    if (this.closed || !pending || this.inFlight) return;
    const delayMs = this.dueAtMs(pending) - this.now();
    if (pending.immediate || delayMs <= 0) {
      this.start();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.schedule();
    }, delayMs);
  }

  private dueAtMs(pending: Pending<R>): number {
    return Math.min(pending.lastAtMs + this.debounceMs, pending.firstAtMs + this.maxWaitMs);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private start(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    const id = this.nextId++;
    const logger = this.logger.child({ reconcile_id: id });
    const reasons = [...pending.reasons];
    const reason = summarize(reasons);
    const startedAtMs = this.now();
    logger.debug({ reason, queued_ms: startedAtMs - pending.firstAtMs }, 'reconcile started');
    this.inFlight = this.execute({ id, reason, reasons, logger, signal: this.signal }, pending.waiters)
      .finally(() => {
        this.completed++;
        this.inFlight = undefined;
        this.schedule();
        this.settleIdle();
      });
  }

  private async execute(ctx: ReconcileContext, waiters: Waiter<R>[]): Promise<void> {
    try {
      const result = await this.deps.run(ctx);
      for (const waiter of waiters) waiter.resolve(result);
    } catch (error) {
      this.failed++;
      ctx.logger.error({ err: error, reason: ctx.reason }, 'reconcile failed; the next change or resync retries');
      for (const waiter of waiters) waiter.reject(error);
    }
  }

  private isIdle(): boolean {
    return !this.pending && !this.inFlight;
  }

  private settleIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
