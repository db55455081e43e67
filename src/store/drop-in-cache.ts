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
}

/** What the last load did, for benchmarks, tests and debug logs. */
export interface CacheLoadStats {
  full: boolean;
  reused: number;
  read: number;
  /** Files whose identity was stat'ed (the others were named by no event since the last load). */
  statted: number;
}

/**
 * A load re-reads only files whose identity changed. Events are hints: between two sweeps (the
 * first load, every resync, any event that is not about one drop-in) only the files the watcher
 * named are stat'ed, besides new entries; a sweep stats every file. A file rewritten in place
 * within one timestamp tick with the same size keeps its identity; the full re-read (every
 * `fullRereadMs`, on reload, and whenever what parsing depends on changes) catches it.
 */
export class DropInCache {
  /** Keyed by the drop-in's path as listed (services_dir joined with the entry name). */
  readonly entries = new Map<string, CachedDropIn>();
  readonly fullRereadMs: number;
  private readonly now: () => number;
  private lastFullAtMs = Number.NEGATIVE_INFINITY;
  /** What parsing depended on at the last load (services dir, health defaults). */
  private parseKey = '';
  /** Paths the watcher named since the last load began; `sweep`: stat every file at the next load. */
  private hints = new Set<string>();
  private sweepNext = true;
  /** For the load in progress: which files to stat (undefined: all). */
  private statOnly: Set<string> | undefined;
  last: CacheLoadStats = { full: true, reused: 0, read: 0, statted: 0 };

  constructor(opts: DropInCacheOptions = {}) {
    this.fullRereadMs = opts.fullRereadMs ?? DEFAULT_FULL_REREAD_MS;
    this.now = opts.now ?? Date.now;
  }

  /**
   * A watcher event named `path` (undefined: a resync, or an event without a path). Between two
   * sweeps only named files are stat'ed; anything but a drop-in of the directory asks for a sweep.
   */
  hint(path: string | undefined): void {
    if (path === undefined) this.sweepNext = true;
    else this.hints.add(path);
  }

  /** Start one load of `dir`; returns whether it must be a full re-read. */
  begin(parseKey: string, dir?: string): boolean {
    const full = parseKey !== this.parseKey || this.now() - this.lastFullAtMs >= this.fullRereadMs;
    if (full) {
      this.entries.clear();
      this.parseKey = parseKey;
      this.lastFullAtMs = this.now();
    }
    const hints = this.hints;
    this.hints = new Set();
    const sweep = full || this.sweepNext || dir === undefined || [...hints].some((p) => dirname(p) !== dir || !isDropInName(basename(p)));
    this.sweepNext = false;
    this.statOnly = sweep ? undefined : hints;
    this.last = { full, reused: 0, read: 0, statted: 0 };
    return full;
  }

  /** The identity to trust without a stat for `file` in this load (no event named it since it was read), else undefined. */
  known(file: string): string | undefined {
    if (this.statOnly === undefined || this.statOnly.has(file)) return undefined;
    return this.entries.get(file)?.identity;
  }

  /** Ask for a full re-read at the next load. */
  invalidate(): void {
    this.lastFullAtMs = Number.NEGATIVE_INFINITY;
  }

  /** Stat every file at the next load (a resync). */
  sweep(): void {
    this.sweepNext = true;
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

/** Identity of each entry, in order (`known` supplies those that need no stat); yields to the event loop between batches. */
export async function identities(entries: readonly Dirent[], pathOf: (entry: Dirent) => string, known?: (path: string) => string | undefined): Promise<{ ids: (string | undefined)[]; statted: number }> {
  const ids: (string | undefined)[] = new Array<string | undefined>(entries.length);
  let statted = 0;
  for (let i = 0; i < entries.length; i++) {
    const path = pathOf(entries[i]!);
    const trusted = entries[i]!.isSymbolicLink() ? undefined : known?.(path);
    if (trusted !== undefined) {
      ids[i] = trusted;
      continue;
    }
    if (++statted % STAT_BATCH === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    ids[i] = fileIdentity(path);
  }
  return { ids, statted };
}
