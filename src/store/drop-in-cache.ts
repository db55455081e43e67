// Parsed drop-ins kept between loads, keyed by file identity (device, inode, size, mtime and ctime in ns); a periodic full re-read is the safety net.
import type { Dirent } from 'node:fs';
import { statSync } from 'node:fs';
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
}

/**
 * Events are hints: every load compares every file's identity, and re-reads only files whose
 * identity changed. A file rewritten in place within one timestamp tick with the same size keeps
 * its identity; the full re-read (every `fullRereadMs`, and whenever what parsing depends on
 * changes) catches it.
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

  constructor(opts: DropInCacheOptions = {}) {
    this.fullRereadMs = opts.fullRereadMs ?? DEFAULT_FULL_REREAD_MS;
    this.now = opts.now ?? Date.now;
  }

  /** Start one load; returns whether it must be a full re-read. */
  begin(parseKey: string): boolean {
    const full = parseKey !== this.parseKey || this.now() - this.lastFullAtMs >= this.fullRereadMs;
    if (full) {
      this.entries.clear();
      this.parseKey = parseKey;
      this.lastFullAtMs = this.now();
    }
    this.last = { full, reused: 0, read: 0 };
    return full;
  }

  /** Ask for a full re-read at the next load. */
  invalidate(): void {
    this.lastFullAtMs = Number.NEGATIVE_INFINITY;
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
