// A token bucket for forwarding Beyla's lines into the agent's log: a chatty Beyla cannot take the agent's CPU or flood the journal.

export interface LogRateLimitOptions {
  /** Lines a second forwarded in the long run. */
  linesPerSecond: number;
  /** Lines forwarded at once after a quiet spell. */
  burstLines: number;
  /** Bytes a second forwarded in the long run. */
  bytesPerSecond: number;
  burstBytes: number;
  now?: () => number;
}

export const DEFAULT_LOG_RATE_LIMIT: LogRateLimitOptions = {
  linesPerSecond: 200,
  burstLines: 1000,
  bytesPerSecond: 256 * 1024,
  burstBytes: 1024 * 1024,
};

/**
 * `take(bytes)` says whether one more line may be forwarded now. A line is forwarded only when
 * both buckets have room, so over any window of T seconds at most `burstLines + linesPerSecond * T`
 * lines and `burstBytes + bytesPerSecond * T` bytes (plus one line) get through.
 */
export class LogRateLimit {
  private lines: number;
  private bytes: number;
  private last: number;
  private readonly opts: LogRateLimitOptions;
  private readonly now: () => number;

  constructor(opts: Partial<LogRateLimitOptions> = {}) {
    this.opts = { ...DEFAULT_LOG_RATE_LIMIT, ...opts };
    this.now = opts.now ?? Date.now;
    this.lines = this.opts.burstLines;
    this.bytes = this.opts.burstBytes;
    this.last = this.now();
  }

  take(bytes: number): boolean {
    const now = this.now();
    const seconds = Math.max(0, now - this.last) / 1000;
    this.last = now;
    this.lines = Math.min(this.opts.burstLines, this.lines + seconds * this.opts.linesPerSecond);
    this.bytes = Math.min(this.opts.burstBytes, this.bytes + seconds * this.opts.bytesPerSecond);
    if (this.lines < 1 || this.bytes < Math.min(bytes, this.opts.burstBytes)) return false;
    this.lines -= 1;
    this.bytes -= bytes;
    return true;
  }
}
