// Parsed drop-ins kept between loads, keyed by file identity (device, inode, size, mtime and ctime in ns); a periodic full re-read is the safety net.
import type { Dirent } from 'node:fs';
import { statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { isDropInName } from '../config/ignored-names.js';
import type { FileResult } from '../config/types.js';

/** A full re-read (every file read and parsed, identities ignored) at least this often. Default 15 min. */
export const DEFAULT_FULL_REREAD_MS = 15 * 60_000;

/** Files stat'ed between two yields to the event loop (10,000 stats take ~60 ms of CPU). */
const STAT_BATCH = 500;

export interface CachedDropIn {
  identity: string;
  result: FileResult;
}

export interface DropInCacheOptions {
  fullRereadMs?: number;
  now?: () => number;
  /**
   * Trust watcher hints (see `hint`): between two sweeps a load looks only at the entries the
   * watcher named. Without it every load lists the directory and stats every file.
   */
  hinted?: boolean;
}

/** What the last sweep listed: names in load order, which are symlinks, what the directory resolves to. */
export interface DirListing {
  dir: string;
  dirReal: string;
  names: string[];
  symlinks: Set<string>;
}

/** How a load looks at the directory: `full` reads every file, `sweep` lists it and stats every file, `hinted` looks only at named entries. */
export type LoadMode = 'full' | 'sweep' | 'hinted';

/** What the last load did, for benchmarks, tests and debug logs. */
export interface CacheLoadStats {
  full: boolean;
  reused: number;
  read: number;
}

/** Why the next load must sweep, as the last reason given. */
type SweepReason = 'start' | 'resync' | 'not_a_drop_in' | 'no_listing' | 'many';

/** More named entries than this since the last load: a sweep is cheaper than looking at each. */
const HINTED_MAX = 512;

/**
 * A load re-reads only files whose identity changed. Without `hinted`, every load lists the
 * directory and compares every file's identity. With it (the daemon, fed by its directory watch),
 * a load between two sweeps looks only at the entries the watcher named since the last load (plus
 * the symlinks, whose target can change without an event on their name) and reuses the rest: O(1)
 * per change. Events are hints: a resync (agent.resync_interval), an event about anything but one
 * drop-in, or a load that failed makes the next load a sweep, which lists and stats every file. A file
 * rewritten in place within one timestamp tick with the same size keeps its identity; the full
 * re-read (every `fullRereadMs`, on reload, and whenever what parsing depends on changes) catches it.
 */
export class DropInCache {
  /** Keyed by the drop-in's path as listed (services_dir joined with the entry name). */
  readonly entries = new Map<string, CachedDropIn>();
  readonly fullRereadMs: number;
  private readonly now: () => number;
  private lastFullAtMs = Number.NEGATIVE_INFINITY;
  /** What parsing depended on at the last load (services dir, health defaults). */
  private parseKey = '';
  last: CacheLoadStats = { full: true, reused: 0, read: 0 };
  /** How the last load looked at the directory. */
  lastMode: LoadMode = 'full';
  readonly hinted: boolean;
  /** What the last sweep listed, kept current by hinted loads; undefined until a sweep lists the directory. */
  listing: DirListing | undefined;
  /** Entries the watcher named since the last load began. */
  private hints = new Set<string>();
  private sweepReason: SweepReason | undefined = 'start';
  /** Loads sharing this cache run one at a time: a hinted load must not list what another is still changing. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: DropInCacheOptions = {}) {
    this.fullRereadMs = opts.fullRereadMs ?? DEFAULT_FULL_REREAD_MS;
    this.now = opts.now ?? Date.now;
    this.hinted = opts.hinted ?? false;
  }

  /**
   * A watcher event named `path` (undefined: a resync, or an event about no one entry). Events are
   * hints: only a drop-in of the directory keeps the next load hinted; anything else (the main
   * file, a ConfigMap entry, the directory itself, a resync) makes it a sweep.
   */
  hint(path: string | undefined): void {
    if (path === undefined) this.sweepReason = 'resync';
    else this.hints.add(path);
  }

  /** Start one load of `dir`: how it must look at the directory, and (hinted) the entries to look at. */
  begin(parseKey: string, dir?: string): { mode: LoadMode; named: ReadonlySet<string> } {
    const full = parseKey !== this.parseKey || this.now() - this.lastFullAtMs >= this.fullRereadMs;
    if (full) {
      this.entries.clear();
      this.parseKey = parseKey;
      this.lastFullAtMs = this.now();
    }
    const named = this.hints;
    this.hints = new Set();
    let sweep = this.sweepReason;
    this.sweepReason = undefined;
    if (!sweep && named.size > HINTED_MAX) sweep = 'many';
    if (!sweep && (this.listing === undefined || this.listing.dir !== dir)) sweep = 'no_listing';
    if (!sweep) for (const p of named) if (dirname(p) !== dir || !isDropInName(basename(p))) sweep = 'not_a_drop_in';
    const mode: LoadMode = full ? 'full' : sweep || !this.hinted ? 'sweep' : 'hinted';
    if (mode !== 'hinted') this.listing = undefined;
    this.lastMode = mode;
    this.last = { full, reused: 0, read: 0 };
    return { mode, named };
  }

  /** Ask for a full re-read at the next load. */
  invalidate(): void {
    this.lastFullAtMs = Number.NEGATIVE_INFINITY;
  }

  /** Run `load` after the loads queued before it. */
  exclusive<T>(load: () => Promise<T>): Promise<T> {
    const run = this.queue.then(load, load);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** A load could not finish (it threw): the next one sweeps, as it cannot trust what this one consumed. */
  abandon(): void {
    this.sweepReason = 'resync';
    this.listing = undefined;
  }

  /** Keep only the files listed this time (a deleted file must not come back from the cache). */
  retain(files: ReadonlySet<string>): void {
    for (const file of this.entries.keys()) if (!files.has(file)) this.entries.delete(file);
  }
}

/** Identity of what `path` leads to (symlinks followed, as the reader does); undefined when stat fails (the reader reports why). */
export function fileIdentity(path: string): string | undefined {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}:${s.mode}`;
  } catch {
    return undefined;
  }
}

/** Identity of each entry, in order; yields to the event loop between batches. */
export async function identities(entries: readonly Dirent[], pathOf: (entry: Dirent) => string): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = new Array<string | undefined>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    if (i > 0 && i % STAT_BATCH === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    out[i] = fileIdentity(pathOf(entries[i]!));
  }
  return out;
}
