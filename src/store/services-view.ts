// The daemon's in-memory view of every drop-in for `coral connect`: kept current by its own writes and by watcher hints, re-checked under the lock in O(changes).
import { lstatSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseDropIn } from '../config/parse-drop-in.js';
import type { Validators } from '../config/schema-validate.js';
import type { Service, Snapshot } from '../config/types.js';
import { type DropInCache, fileIdentity } from './drop-in-cache.js';
import type { ServicesView } from './edit-services.js';
import { loadSnapshot } from './load-snapshot.js';
import { readSourceFile } from './read-source-file.js';
import { isConfigMapEntry, isDropInName } from '../config/ignored-names.js';
import { watchEntries, type EntryWatch } from '../watch/watch-entries.js';
import { ServicesIndex } from './services-index.js';

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
 * symlink entry changed, or a resync (every agent.resync_interval). Otherwise it takes the names the
 * directory's own inotify events reported up to a fence (src/watch/watch-entries.ts: every change
 * made before the call is in), plus those the config watcher named, and reads again only files whose
 * identity moved; the services are indexed by name and port. So a check costs the same with 10 or
 * 10,000 drop-ins. Where the fence cannot say (the watch failed, no inotify watch left), it lists
 * the directory as before.
 * Call `current()`, `wrote()` and `removed()` holding the directory lock.
 */
export class LiveServicesView {
  private readonly opts: LiveServicesViewOptions;
  private snapshot: Snapshot | undefined;
  private index = new ServicesIndex({ configPath: '', servicesDir: '' });
  private identities = new Map<string, string | undefined>();
  private readonly dirty = new Set<string>();
  private entries: EntryWatch | undefined;
  /** Full loads done, files re-checked on the fast path, directory listings: for tests and benchmarks. */
  readonly counts = { full: 0, rechecked: 0, listed: 0 };

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

  async current(): Promise<ServicesView> {
    const snapshot = this.snapshot;
    if (!snapshot) return this.fullLoad();
    const dir = snapshot.settings.servicesDir;
    // The main file, a ConfigMap entry (`..data` swaps every link at once), a symlinked drop-in: a full load judges those.
    const simple = (p: string): boolean => dirname(p) === dir && p !== snapshot.settings.configPath && isDropInName(basename(p)) && !isSymlink(p);
    if (![...this.dirty].every(simple)) return this.fullLoad();
    if (!(this.entries?.dir === dir && await this.entries.fence())) {
      this.watchEntries(dir);
      if (!(await this.list(dir, snapshot))) return this.fullLoad();
    }
    if (!this.snapshot || ![...this.dirty].every(simple)) return this.fullLoad();
    for (const path of this.dirty) await this.recheck(path, snapshot);
    this.dirty.clear();
    return this.index;
  }

  /** Record a file this process just wrote under the lock, so the next check needs no read. */
  wrote(path: string, service: Service): void {
    this.index.set({ file: path, status: 'valid', services: [service], errors: [] });
    this.identities.set(path, fileIdentity(path));
  }

  removed(path: string): void {
    this.index.delete(path);
    this.identities.delete(path);
  }

  close(): void {
    this.entries?.close();
    this.entries = undefined;
  }

  /** (Re)start the directory's event stream; names of drop-ins go to `dirty`, a ConfigMap entry asks for a full load. */
  private watchEntries(dir: string): void {
    this.entries?.close();
    this.entries = watchEntries({
      dir,
      onEntry: (name) => {
        if (isDropInName(name)) this.dirty.add(join(dir, name));
        else if (isConfigMapEntry(name)) this.invalidate();
      },
    });
  }

  /** New and removed entries by listing the directory (names only, no stat: ~1 µs an entry); false when it cannot be listed. */
  private async list(dir: string, snapshot: Snapshot): Promise<boolean> {
    this.counts.listed++;
    const listed = new Set<string>();
    try {
      for (const name of await readdir(dir)) if (isDropInName(name)) listed.add(join(dir, name));
    } catch {
      return false;
    }
    for (const path of listed) if (!this.index.file(path)) this.dirty.add(path);
    for (const path of this.index.paths()) if (path !== snapshot.settings.configPath && !listed.has(path)) this.dirty.add(path);
    return true;
  }

  private async fullLoad(): Promise<ServicesView> {
    const { configPath, env, flags, validators, cache } = this.opts;
    this.dirty.clear();
    const before = this.snapshot?.settings.servicesDir;
    // The event stream first, so that nothing changed during the load is missed.
    if (before !== undefined && this.entries?.dir !== before) this.watchEntries(before);
    const { snapshot } = await loadSnapshot({ configPath, env, flags, validators, cache, previous: this.snapshot });
    this.counts.full++;
    this.snapshot = snapshot;
    this.index = ServicesIndex.of(snapshot);
    this.identities = new Map(snapshot.files.map((f) => [f.file, cache.entries.get(f.file)?.identity]));
    const dir = snapshot.settings.servicesDir;
    if (this.entries?.dir !== dir) {
      // Watched only now: a listing covers what changed since the load read the directory.
      this.watchEntries(dir);
      await this.list(dir, snapshot);
    }
    // What changed while the load ran; anything a full load must judge waits for the next call.
    for (const path of [...this.dirty]) {
      if (dirname(path) !== dir || !isDropInName(basename(path)) || isSymlink(path) || path === snapshot.settings.configPath) continue;
      await this.recheck(path, snapshot);
      this.dirty.delete(path);
    }
    return this.index;
  }

  private async recheck(path: string, snapshot: Snapshot): Promise<void> {
    const identity = fileIdentity(path);
    if (identity !== undefined && identity === this.identities.get(path)) return;
    this.counts.rechecked++;
    const source = await readSourceFile(path);
    if ('missing' in source) {
      this.index.delete(path);
      this.identities.delete(path);
      return;
    }
    const before = this.index.file(path);
    const result = 'bytes' in source
      ? parseDropIn({ file: path, bytes: source.bytes, validators: this.opts.validators, healthDefaults: snapshot.settings.health })
      : { file: path, ok: false as const, errors: [source.error] };
    const lastGood = before && before.status !== 'rejected' ? before.services : undefined;
    this.index.set(result.ok
      ? { file: path, status: 'valid', services: result.services, errors: [] }
      : { file: path, status: lastGood ? 'stale' : 'rejected', services: lastGood ? [...lastGood] : [], errors: result.errors });
    this.identities.set(path, identity);
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
