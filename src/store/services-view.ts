// The daemon's in-memory view of every drop-in for `coral connect`: kept current by its own writes and by watcher hints, re-checked under the lock in O(changes).
import { lstatSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseDropIn } from '../config/parse-drop-in.js';
import type { Validators } from '../config/schema-validate.js';
import type { FileState, Service, Snapshot } from '../config/types.js';
import { type DropInCache, fileIdentity } from './drop-in-cache.js';
import type { ServicesView } from './edit-services.js';
import { loadSnapshot } from './load-snapshot.js';
import { readSourceFile } from './read-sources.js';
import { isDropInName } from '../config/ignored-names.js';

export interface LiveServicesViewOptions {
  configPath: string;
  env: Readonly<Record<string, string | undefined>>;
  flags: Readonly<Record<string, string | undefined>>;
  validators: Validators;
  /** Shared with the reconciler: an unchanged file is parsed once for both. */
  cache: DropInCache;
}

/**
 * `current()` returns what is on disk now without reading every file. It does a full (cached) load
 * first, and again when the view cannot follow what happened: the main file changed, a ConfigMap or
 * symlink entry changed, or a resync (every agent.resync_interval). Otherwise it lists the directory
 * (so new and removed files are seen at once), stats the files the watcher named since, and reads
 * again those whose identity moved. A file replaced in place (by hand, or by a `coral connect` that
 * could not reach the agent) is seen through its watcher event, which arrives within tens of ms.
 * Call `current()`, `wrote()` and `removed()` holding the directory lock.
 */
export class LiveServicesView {
  private readonly opts: LiveServicesViewOptions;
  private snapshot: Snapshot | undefined;
  private files = new Map<string, FileState>();
  private identities = new Map<string, string | undefined>();
  private readonly dirty = new Set<string>();
  /** Full loads done, and files re-checked on the fast path: for tests and benchmarks. */
  readonly counts = { full: 0, rechecked: 0 };

  constructor(opts: LiveServicesViewOptions) {
    this.opts = opts;
  }

  /** A watcher event: this path may have changed (no path: anything may have). */
  markDirty(path: string | undefined): void {
    if (path === undefined) this.invalidate();
    else this.dirty.add(path);
  }

  /** The next `current()` does a full (cached) load. */
  invalidate(): void {
    this.snapshot = undefined;
  }

  async current(): Promise<LiveView> {
    const snapshot = this.snapshot;
    if (!snapshot) return this.fullLoad();
    const dir = snapshot.settings.servicesDir;
    // The main file, a ConfigMap entry (`..data` swaps every link at once), a symlinked drop-in: a full load judges those.
    const simple = (p: string): boolean => dirname(p) === dir && p !== snapshot.settings.configPath && isDropInName(basename(p)) && !isSymlink(p);
    if (![...this.dirty].every(simple)) return this.fullLoad();
    // New and removed entries are seen at once (names only, no stat: ~1 µs an entry); edits in place come as watcher hints.
    const listed = new Set<string>();
    try {
      for (const name of await readdir(dir)) if (isDropInName(name)) listed.add(join(dir, name));
    } catch {
      return this.fullLoad();
    }
    for (const path of listed) if (!this.files.has(path)) this.dirty.add(path);
    for (const path of this.files.keys()) if (path !== snapshot.settings.configPath && !listed.has(path)) this.dirty.add(path);
    if (![...this.dirty].every(simple)) return this.fullLoad();
    for (const path of this.dirty) await this.recheck(path, snapshot);
    this.dirty.clear();
    return this.view(snapshot);
  }

  /** Record a file this process just wrote under the lock, so the next check needs no read. */
  wrote(path: string, service: Service): void {
    this.files.set(path, { file: path, status: 'valid', services: [service], errors: [] });
    this.identities.set(path, fileIdentity(path));
  }

  removed(path: string): void {
    this.files.delete(path);
    this.identities.delete(path);
  }

  private async fullLoad(): Promise<LiveView> {
    const { configPath, env, flags, validators, cache } = this.opts;
    this.dirty.clear();
    const { snapshot } = await loadSnapshot({ configPath, env, flags, validators, cache, previous: this.snapshot });
    this.counts.full++;
    this.snapshot = snapshot;
    this.files = new Map(snapshot.files.map((f) => [f.file, f]));
    this.identities = new Map(snapshot.files.map((f) => [f.file, cache.entries.get(f.file)?.identity]));
    return this.view(snapshot);
  }

  private async recheck(path: string, snapshot: Snapshot): Promise<void> {
    const identity = fileIdentity(path);
    if (identity !== undefined && identity === this.identities.get(path)) return;
    this.counts.rechecked++;
    const source = await readSourceFile(path);
    if ('missing' in source) {
      this.files.delete(path);
      this.identities.delete(path);
      return;
    }
    const before = this.files.get(path);
    const result = 'bytes' in source
      ? parseDropIn({ file: path, bytes: source.bytes, validators: this.opts.validators, healthDefaults: snapshot.settings.health })
      : { file: path, ok: false as const, errors: [source.error] };
    const lastGood = before && before.status !== 'rejected' ? before.services : undefined;
    this.files.set(path, result.ok
      ? { file: path, status: 'valid', services: result.services, errors: [] }
      : { file: path, status: lastGood ? 'stale' : 'rejected', services: lastGood ? [...lastGood] : [], errors: result.errors });
    this.identities.set(path, identity);
  }

  /** Files in no particular order: the decisions do not depend on it. */
  private view(snapshot: Snapshot): LiveView {
    const files = [...this.files.values()];
    return { settings: snapshot.settings, files, services: files.flatMap((f) => f.services) };
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

export type LiveView = ServicesView & { settings: Snapshot['settings'] };
