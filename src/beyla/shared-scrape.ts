// One fetch of the active instance's /metrics shared by every scrape that asks meanwhile, and its text reused for a short time after.

/** A scrape's text and the generation that wrote it. */
export interface TaggedText {
  generation: number;
  text: string;
}

/** What one fetch gave: the text to serve, and whether it is fresh (not a fallback to an older copy). */
export interface FetchedScrape {
  result: TaggedText | null;
  fresh: boolean;
}

export interface SharedScrapeOptions {
  /** How long a fresh text is served again without asking Beyla (from the start of its fetch). */
  reuseMs: number;
  now?: () => number;
}

/**
 * However many scrapes of the stable address arrive at once, the active instance sees one request:
 * a scrape joins the fetch in flight for the same generation, or gets the text of one that started
 * less than `reuseMs` ago. A text is only ever shared within its generation, so a promotion is
 * seen by the next scrape. A fetch that failed is not reused: the next scrape asks again.
 */
export class SharedScrape {
  private readonly reuseMs: number;
  private readonly now: () => number;
  private inFlight: { generation: number; promise: Promise<TaggedText | null> } | null = null;
  private recent: { generation: number; startedAt: number; result: TaggedText } | null = null;

  constructor(opts: SharedScrapeOptions) {
    this.reuseMs = opts.reuseMs;
    this.now = opts.now ?? (() => performance.now());
  }

  get(generation: number, fetch: () => Promise<FetchedScrape>): Promise<TaggedText | null> {
    const recent = this.recent;
    if (recent?.generation === generation && this.now() - recent.startedAt < this.reuseMs) return Promise.resolve(recent.result);
    if (this.inFlight?.generation === generation) return this.inFlight.promise;
    const startedAt = this.now();
    const promise = fetch().then(({ result, fresh }) => {
      if (fresh && result?.generation === generation) this.recent = { generation, startedAt, result };
      return result;
    }).finally(() => {
      if (this.inFlight?.promise === promise) this.inFlight = null;
    });
    this.inFlight = { generation, promise };
    return promise;
  }

  /** Forgets the reused text (the instance is no longer active). */
  clear(): void {
    this.recent = null;
  }
}
