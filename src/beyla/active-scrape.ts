// ActiveScrape: reads the active Beyla's /metrics, shared by concurrent callers, falling back to that instance's last good text.
import type { Logger } from '../log.js';
import { METRICS_PATH } from '../plan/render-beyla-config.js';
import type { BeylaProcess } from './beyla-process.js';
import type { BeylaMetrics } from './create-beyla-metrics.js';
import { fetchText } from './fetch-text.js';
import { SharedScrape, type FetchedScrape } from './shared-scrape.js';
import { untilAborted } from './until-aborted.js';

export interface ActiveScrapeOptions {
  reuseMs: number;
  timeoutMs: number;
  errors: BeylaMetrics['scrapeErrors'];
  log: Logger;
}

export class ActiveScrape {
  private lastScrape: { generation: number; text: string } | null = null;
  private readonly shared: SharedScrape;

  constructor(private readonly opts: ActiveScrapeOptions) {
    this.shared = new SharedScrape({ reuseMs: opts.reuseMs });
  }

  /**
   * The text of `active`'s /metrics with its generation. Concurrent callers share one request to
   * the instance, and a text fetched less than `reuseMs` ago is served again (shared-scrape.ts).
   */
  tagged(active: BeylaProcess, signal?: AbortSignal): Promise<{ generation: number; text: string } | null> {
    const shared = this.shared.get(active.generation, () => this.fetch(active));
    // An aborted caller stops waiting; the shared request goes on for the others.
    return untilAborted<{ generation: number; text: string } | null>(shared, signal, () => null);
  }

  /** Forgets the last good text and any shared request (the active instance went away). */
  clear(): void {
    this.lastScrape = null;
    this.shared.clear();
  }

  private async fetch(active: BeylaProcess): Promise<FetchedScrape> {
    const generation = active.generation;
    try {
      const url = `http://127.0.0.1:${active.ports.metrics}${METRICS_PATH}`;
      const text = await fetchText(url, { timeoutMs: this.opts.timeoutMs });
      if (this.lastScrape === null || this.lastScrape.generation <= generation) this.lastScrape = { generation, text };
      return { result: { generation, text }, fresh: true };
    } catch (error) {
      this.opts.errors.inc();
      this.opts.log.debug({ err: error, generation }, 'scraping the active Beyla failed; serving its last good metrics');
      return { result: this.lastScrape?.generation === generation ? { ...this.lastScrape } : null, fresh: false };
    }
  }
}
