// Which items of which Beyla generation reach the user's collector: each generation owns a time window, cut at each promotion.

/** [fromNs, toNs): a generation's items with a time in it are forwarded, the others are another generation's. */
export interface TimeWindow {
  fromNs: bigint;
  toNs: bigint;
}

export const MIN_NS = -(2n ** 63n);
export const MAX_NS = 2n ** 64n;

/** What to do with one request of a generation: forward it whole, drop it whole, or keep only its items inside the window. */
export type Verdict = { kind: 'all' } | { kind: 'none' } | { kind: 'window'; window: TimeWindow };

const KEPT = 16; // windows of generations gone are kept a while: a request can still be arriving when its sender has exited

/**
 * The cut: at a promotion, when the candidate is proven to instrument everything the old
 * instance did, the relay takes T, the first millisecond after that moment. The old generation
 * keeps being forwarded, for its items before T, until it exits (so its final flush arrives);
 * the new one is forwarded for its items from T on. An item exactly at T is the new one's.
 * A generation promoted with no live predecessor (the first, or after a crash) takes over from
 * the latest item forwarded so far. A candidate not yet promoted is dropped: whatever it has is
 * older than the cut to come, and the active instance sends it.
 */
export class GenerationWindows {
  private readonly windows = new Map<number, TimeWindow>();
  private active = 0;
  private everActive = false;
  /** A cut whose candidate has not been seen active yet: undone if the candidate goes away instead. */
  private pending: { from: number; to: number; atNs: bigint; fromWindow: TimeWindow } | null = null;
  private latestForwardedNs = MIN_NS;

  /** The promotion moment, both instances alive; `nowMs` is the wall clock when the candidate was proven. */
  cut(from: number, to: number, nowMs: number): bigint {
    const atNs = BigInt(Math.floor(nowMs) + 1) * 1_000_000n;
    const fromWindow = this.windows.get(from) ?? { fromNs: MIN_NS, toNs: MAX_NS };
    this.windows.set(from, { fromNs: fromWindow.fromNs, toNs: atNs < fromWindow.toNs ? atNs : fromWindow.toNs });
    this.windows.set(to, { fromNs: atNs, toNs: MAX_NS });
    this.pending = { from, to, atNs, fromWindow };
    this.prune();
    return atNs;
  }

  /** The supervisor's view: which generation is active (0: none) and which run. */
  observe(active: number, running: readonly number[]): void {
    const pending = this.pending;
    if (pending && active === pending.to) this.pending = null;
    else if (pending && !running.includes(pending.to) && active !== pending.to) {
      // The candidate went away without being promoted: the old one keeps its whole window.
      this.windows.set(pending.from, pending.fromWindow);
      this.windows.set(pending.to, { fromNs: pending.atNs, toNs: pending.atNs });
      this.pending = null;
    }
    if (active > 0 && active !== this.active) {
      if (!this.windows.has(active)) {
        // Promoted without a cut (no live predecessor): everything after what was last forwarded.
        const fromNs = this.everActive ? this.latestForwardedNs + 1n : MIN_NS;
        const previous = this.windows.get(this.active);
        if (previous && previous.toNs > fromNs) this.windows.set(this.active, { ...previous, toNs: fromNs });
        this.windows.set(active, { fromNs, toNs: MAX_NS });
      }
      this.everActive = true;
    }
    if (active > 0) this.active = active;
    this.prune();
  }

  verdict(generation: number): Verdict {
    const window = this.windows.get(generation);
    if (!window) return this.everActive ? { kind: 'none' } : { kind: 'all' }; // before any promotion the first instance is the only source
    if (window.fromNs === MIN_NS && window.toNs === MAX_NS) return { kind: 'all' };
    if (window.fromNs >= window.toNs) return { kind: 'none' };
    return { kind: 'window', window };
  }

  /** Told of the latest item time in each forwarded body that was read. */
  forwarded(maxNs: bigint): void {
    if (maxNs > this.latestForwardedNs) this.latestForwardedNs = maxNs;
  }

  private prune(): void {
    if (this.windows.size <= KEPT) return;
    const oldest = [...this.windows.keys()].sort((a, b) => a - b).slice(0, this.windows.size - KEPT);
    for (const generation of oldest) if (generation !== this.active) this.windows.delete(generation);
  }
}
