// Holds the counter-continuity offsets of the active Beyla generation: told of each promotion, applied to each scrape.
import type { Logger } from '../log.js';
import { applyOffsets, carryOffsets, DEFAULT_CONTINUITY_LIMITS, type ContinuityLimits, type Offsets } from './counter-continuity.js';

/** One Beyla instance's Prometheus export. */
export interface ExportEndpoint {
  generation: number;
  metricsUrl: string;
}

/** The active instance's text and which generation wrote it. */
export interface TaggedScrape {
  generation: number;
  text: string;
}

export interface ContinuityHolderOptions {
  /** false: serve every instance's raw values (agent.metrics.continuity). */
  enabled: boolean;
  /** GET a URL as text; rejects on failure or when `signal` aborts. */
  fetchText: (url: string, signal: AbortSignal) => Promise<string>;
  logger: Logger;
  /** Deadline of the two scrapes taken at a promotion. Default 1000 ms. */
  promoteScrapeTimeoutMs?: number;
  limits?: ContinuityLimits;
  now?: () => number;
}

/**
 * The stateful half of counter continuity. `promote(from, to)` is called at the promotion moment
 * (both instances alive, the old one not yet stopped): it scrapes both at once and carries the
 * offsets. `serve(scrape)` adds the offsets of the generation that wrote the text, so a scrape of
 * the old instance that finishes after the promotion is still served consistently. A generation
 * that appears without a promotion (the old one had died) continues from the last text served.
 */
export class ContinuityHolder {
  private readonly opts: ContinuityHolderOptions;
  private readonly limits: ContinuityLimits;
  private readonly now: () => number;
  private readonly log: Logger;
  /** Offsets of the newest few generations (a late scrape of the old one, a candidate never promoted). */
  private readonly byGeneration = new Map<number, Offsets>();
  private newest = 0;
  /** The last text served of the newest generation served. */
  private lastRaw: TaggedScrape | null = null;
  /** A promotion whose new-instance scrape failed: finished at that generation's first scrape. */
  private deferred: { generation: number; old: string; offsets: Offsets; overlapped: boolean } | null = null;

  constructor(opts: ContinuityHolderOptions) {
    this.opts = opts;
    this.limits = opts.limits ?? DEFAULT_CONTINUITY_LIMITS;
    this.now = opts.now ?? Date.now;
    this.log = opts.logger.child({ component: 'metrics-continuity' });
  }

  get enabled(): boolean {
    return this.opts.enabled;
  }

  /** Series with an offset in the newest generation (for tests and status). */
  get offsetCount(): number {
    return this.byGeneration.get(this.newest)?.size ?? 0;
  }

  /** Never throws; resolves within about promoteScrapeTimeoutMs. */
  async promote(from: ExportEndpoint, to: ExportEndpoint): Promise<void> {
    if (!this.opts.enabled) return;
    const base = this.byGeneration.get(from.generation) ?? new Map<string, never>();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('no answer in time')), this.opts.promoteScrapeTimeoutMs ?? 1000);
    const [oldText, newText] = await Promise.allSettled([
      this.opts.fetchText(from.metricsUrl, controller.signal),
      this.opts.fetchText(to.metricsUrl, controller.signal),
    ]).finally(() => clearTimeout(timer));
    let old: string;
    let overlapped = true;
    if (oldText.status === 'fulfilled') old = oldText.value;
    else {
      // A hung or dying old instance: continue from what it last served, and count all the new one saw.
      old = this.lastRaw?.generation === from.generation ? this.lastRaw.text : '';
      overlapped = false;
      this.log.warn({ err: oldText.reason, generation: from.generation }, 'could not scrape the old Beyla at promotion; its counters continue from its last scrape');
    }
    if (newText.status === 'fulfilled') {
      this.remember(to.generation, carryOffsets({ old, next: newText.value, offsets: base, overlapped, nowMs: this.now(), limits: this.limits }));
      if (this.deferred?.generation === to.generation) this.deferred = null;
    } else {
      this.byGeneration.delete(to.generation);
      this.deferred = { generation: to.generation, old, offsets: base, overlapped };
      this.newest = Math.max(this.newest, to.generation);
    }
    this.log.debug({ from: from.generation, to: to.generation, offsets: this.byGeneration.get(to.generation)?.size, overlapped }, 'counter offsets carried to the new Beyla');
  }

  /** The text to serve for `scrape` (null passes through). */
  serve(scrape: TaggedScrape | null): string | null {
    if (!scrape || !this.opts.enabled) return scrape?.text ?? null;
    const { generation, text } = scrape;
    if (this.deferred?.generation === generation) {
      const { old, offsets, overlapped } = this.deferred;
      this.remember(generation, carryOffsets({ old, next: text, offsets, overlapped, nowMs: this.now(), limits: this.limits }));
      this.deferred = null;
    }
    let offsets = this.byGeneration.get(generation);
    if (offsets === undefined) {
      if (generation <= this.newest) return text; // an old generation no longer remembered
      // No promotion announced this generation: the one before had stopped, so nothing overlapped.
      const before = this.lastRaw ? this.byGeneration.get(this.lastRaw.generation) : undefined;
      offsets = this.lastRaw && before
        ? carryOffsets({ old: this.lastRaw.text, next: text, offsets: before, overlapped: false, nowMs: this.now(), limits: this.limits })
        : new Map<string, never>();
      this.remember(generation, offsets);
    }
    const applied = applyOffsets({ text, offsets, nowMs: this.now(), limits: this.limits });
    this.byGeneration.set(generation, applied.offsets);
    if (generation >= (this.lastRaw?.generation ?? 0)) this.lastRaw = scrape;
    return applied.text;
  }

  private remember(generation: number, offsets: Offsets): void {
    this.byGeneration.set(generation, offsets);
    this.newest = Math.max(this.newest, generation);
    for (const known of this.byGeneration.keys()) if (known < this.newest - 3) this.byGeneration.delete(known);
  }
}
