// CheckQueue: due health checks wait here and start at most maxPerSecond a second, with at most maxConcurrent in flight.
import type { Logger } from '../log.js';

/** How far the start budget may lag behind the clock: a burst of this many ms worth of checks may start at once. */
const BURST_MS = 100;
/** Checks waiting for the budget start in batches this far apart: each wake-up of the agent costs more than a check. */
const PUMP_MS = 50;

/** What the queue reads and marks on a check. */
export interface QueuedCheck {
  name: string;
  intervalMs: number;
  /** A stopped check is skipped when its turn comes. */
  stopped: boolean;
  /** When it became due and joined the queue (ms, performance.now()); undefined when not queued. */
  queuedAtMs: number | undefined;
}

export interface CheckQueueOptions<T extends QueuedCheck> {
  maxConcurrent: number;
  maxPerSecond: number;
  logger: Logger;
  /** Checks configured now (for the late warning). */
  checks: () => number;
  run: (check: T) => Promise<void>;
}

/**
 * Starts spread evenly, a short burst allowed: with thousands of services their checks are spread
 * out, and a check that cannot start in time runs late (logged once) rather than taking the agent's CPU.
 */
export class CheckQueue<T extends QueuedCheck> {
  private readonly maxConcurrent: number;
  private readonly startGapMs: number;
  /** Due checks, oldest first (`head` is the next; the array is compacted as it drains). */
  private queue: T[] = [];
  private head = 0;
  /** Fallback attempts of checks whose first address refused: they start before the queue (at most one per check in flight). */
  private retries: T[] = [];
  private running = 0;
  private nextStartAtMs = 0;
  private pumpTimer: NodeJS.Timeout | undefined;
  private lateLogged = false;
  private closed = false;

  constructor(private readonly opts: CheckQueueOptions<T>) {
    this.maxConcurrent = opts.maxConcurrent;
    this.startGapMs = 1000 / opts.maxPerSecond;
  }

  /** Checks waiting for a start slot now. */
  get queued(): number {
    return this.queue.length - this.head + this.retries.length;
  }

  /** Queues a due check (once: a check already waiting keeps its place). */
  enqueue(check: T): void {
    if (check.stopped || check.queuedAtMs !== undefined) return;
    check.queuedAtMs = performance.now();
    this.queue.push(check);
    this.pump();
  }

  /**
   * Queues a check's attempt on its other address, ahead of the due checks: called from `run`,
   * whose end frees the slot and starts what the budget allows.
   */
  retry(check: T): void {
    this.retries.push(check);
  }

  /** Starts nothing more and forgets what waits. */
  close(): void {
    this.closed = true;
    clearTimeout(this.pumpTimer);
    this.queue = [];
    this.head = 0;
    this.retries = [];
  }

  /** Start what the budget allows, oldest first; arm a timer for the next slot. */
  private pump(): void {
    clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    while (!this.closed && (this.retries.length > 0 || this.head < this.queue.length) && this.running < this.maxConcurrent) {
      const nowMs = performance.now();
      if (nowMs < this.nextStartAtMs) {
        this.pumpTimer = setTimeout(() => this.pump(), Math.max(PUMP_MS, Math.ceil(this.nextStartAtMs - nowMs)));
        this.pumpTimer.unref();
        return;
      }
      const check = this.retries.shift() ?? this.queue[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      const waitedMs = nowMs - (check.queuedAtMs ?? nowMs);
      check.queuedAtMs = undefined;
      if (check.stopped) continue;
      this.nextStartAtMs = Math.max(nowMs - BURST_MS, this.nextStartAtMs) + this.startGapMs;
      if (waitedMs > check.intervalMs && !this.lateLogged) {
        this.lateLogged = true;
        this.opts.logger.warn(
          { service: check.name, late_ms: Math.round(waitedMs), interval_ms: check.intervalMs, checks: this.opts.checks(), max_per_second: Math.round(1000 / this.startGapMs), max_concurrent: this.maxConcurrent },
          'health checks run late: more are due than the agent starts (services are checked less often than their interval)',
        );
      }
      this.running++;
      this.opts.run(check)
        .catch((error: unknown) => this.opts.logger.error({ err: error, service: check.name }, 'health check handling failed'))
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
      this.lateLogged = false;
    }
  }
}
