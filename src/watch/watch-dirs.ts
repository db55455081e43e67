// inotify on the config directories only (node's fs.watch): one watch per directory, each event naming the entry that changed.
import { lstatSync, readdirSync, realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { isConfigMapEntry, isDropInName } from '../config/ignored-names.js';

/** What changed, named as the loader names it (the configured services_dir joined with the entry). */
export interface DirChange {
  /** `add`, `change`, `unlink`, `addDir`, `unlinkDir`, `replaced`, or `unnamed` (the kernel named no entry). */
  event: string;
  path: string;
}

export interface DirWatchLayout {
  configDir: string;
  mainName: string;
  servicesDir: string;
  servicesParent: string;
}

export interface WatchDirsOptions {
  layout: DirWatchLayout;
  logger: Logger;
  /** How long an entry must stay quiet before its change is reported; 0 reports at once. */
  quietMs: number;
  onChange: (change: DirChange) => void;
  /** An inotify watch could not be kept (EMFILE, ENOSPC, ...): the caller decides what to do. */
  onError: (error: NodeJS.ErrnoException) => void;
}

export interface DirWatches {
  /** Re-resolve services_dir (it may be a symlink, or replaced): watch what it leads to now. */
  recheck(): void;
  /** inotify watches held (one per distinct directory). */
  readonly count: number;
  close(): void;
}

/** The directory's identity: what it resolves to, and the inode there (a recreated directory often gets the same inode number, so its birth time too). */
export function identityOf(dir: string): string {
  try {
    const real = realpathSync(dir);
    const info = statSync(real);
    if (!info.isDirectory()) return 'missing';
    return `${real}:${info.dev}:${info.ino}:${info.birthtimeMs}`;
  } catch {
    return 'missing';
  }
}

function existsAs(p: string): 'file' | 'dir' | 'none' {
  try {
    return lstatSync(p).isDirectory() ? 'dir' : 'file';
  } catch {
    return 'none';
  }
}

/**
 * Watches the directory of coral.yaml, services_dir's parent (when it differs) and services_dir
 * itself, which fs.watch follows when it is a symlink: three watches at most, whatever the number
 * of drop-ins. An event costs one lstat of the entry it names; nothing is listed again. When
 * services_dir is replaced (deleted and recreated, or a symlink re-pointed), its watch is moved to
 * what it leads to now and its entries are reported once (a file written before the new watch
 * existed is not missed). Throws what fs.watch throws (EMFILE, ENOSPC) when the first watch fails.
 */
export function watchDirs(opts: WatchDirsOptions): DirWatches {
  const { layout, logger } = opts;
  const servicesName = path.basename(layout.servicesDir);
  const watches = new Map<string, FSWatcher>();
  const pending = new Map<string, { renamed: boolean; timer: NodeJS.Timeout }>();
  let servicesIdentity = 'missing';
  let closed = false;

  const report = (p: string, renamed: boolean): void => {
    pending.delete(p);
    if (closed) return;
    const kind = existsAs(p);
    const event = !renamed ? 'change' : kind === 'none' ? 'unlink' : kind === 'dir' ? 'addDir' : 'add';
    opts.onChange({ event, path: p });
  };
  const changed = (p: string, renamed: boolean): void => {
    if (opts.quietMs <= 0) {
      report(p, renamed);
      return;
    }
    const before = pending.get(p);
    if (before) clearTimeout(before.timer);
    const entry = { renamed: renamed || (before?.renamed ?? false), timer: setTimeout(() => report(p, entry.renamed), opts.quietMs) };
    pending.set(p, entry);
  };

  const open = (key: string, dir: string, onName: (name: string | null, eventType: string) => void): boolean => {
    try {
      const watcher = watch(dir, { persistent: true }, (eventType, name) => {
        if (!closed && watches.get(key) === watcher) onName(typeof name === 'string' ? name : null, eventType);
      });
      watcher.on('error', (error: NodeJS.ErrnoException) => {
        if (closed || watches.get(key) !== watcher) return;
        watches.delete(key);
        watcher.close();
        if (error.code === 'EMFILE' || error.code === 'ENOSPC') opts.onError(error);
        else logger.warn({ err: error, dir }, 'lost the watch on a config directory; the next check or resync watches it again');
      });
      watches.set(key, watcher);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return false;
      throw error;
    }
  };

  const unnamed = (dir: string): void => opts.onChange({ event: 'unnamed', path: dir });

  const onServicesEntry = (name: string | null, eventType: string): void => {
    if (name === null) return unnamed(layout.servicesDir);
    // The directory's own deletion or move is reported under its name.
    if (name === servicesName) recheck();
    if (isDropInName(name) || isConfigMapEntry(name)) changed(path.join(layout.servicesDir, name), eventType === 'rename');
  };
  /** services_dir's own entry in its parent: created, deleted, replaced, re-pointed. */
  const onServicesDirEntry = (): void => {
    const kind = existsAs(layout.servicesDir);
    opts.onChange({ event: kind === 'none' ? 'unlinkDir' : 'addDir', path: layout.servicesDir });
    recheck();
  };
  const onConfigEntry = (name: string | null, eventType: string): void => {
    if (name === null) return unnamed(layout.configDir);
    if (name === layout.mainName || isConfigMapEntry(name)) changed(path.join(layout.configDir, name), eventType === 'rename');
    if (layout.configDir === layout.servicesParent && name === servicesName) onServicesDirEntry();
  };
  const onParentEntry = (name: string | null, eventType: string): void => {
    if (name === null) return unnamed(layout.servicesParent);
    if (name === servicesName) onServicesDirEntry();
    else if (isConfigMapEntry(name)) changed(path.join(layout.servicesParent, name), eventType === 'rename');
  };

  function recheck(): void {
    if (closed) return;
    try {
      reattach();
    } catch (error) {
      opts.onError(error as NodeJS.ErrnoException);
    }
  }
  function reattach(): void {
    const now = identityOf(layout.servicesDir);
    if (!watches.has('parent') && layout.servicesParent !== layout.configDir) open('parent', layout.servicesParent, onParentEntry);
    if (!watches.has('config')) open('config', layout.configDir, onConfigEntry);
    if (now === servicesIdentity && (now === 'missing' || watches.has('services'))) return;
    const before = servicesIdentity;
    servicesIdentity = now;
    watches.get('services')?.close();
    watches.delete('services');
    if (now === 'missing') return;
    if (!open('services', layout.servicesDir, onServicesEntry)) {
      servicesIdentity = 'missing';
      return;
    }
    if (before !== 'missing') {
      logger.info({ path: layout.servicesDir, resolves_to: now.slice(0, now.indexOf(':')) }, 'services directory was replaced; watching the new one');
    }
    // Whatever was written between the replacement and this watch: report it once.
    try {
      for (const name of readdirSync(layout.servicesDir)) {
        if (isDropInName(name) || isConfigMapEntry(name)) opts.onChange({ event: 'add', path: path.join(layout.servicesDir, name) });
      }
    } catch {
      // Gone again: the parent's event comes next.
    }
    if (before !== 'missing') opts.onChange({ event: 'replaced', path: layout.servicesDir });
  }

  open('config', layout.configDir, onConfigEntry);
  if (layout.servicesParent !== layout.configDir) open('parent', layout.servicesParent, onParentEntry);
  servicesIdentity = identityOf(layout.servicesDir);
  if (servicesIdentity !== 'missing' && !open('services', layout.servicesDir, onServicesEntry)) servicesIdentity = 'missing';

  return {
    recheck,
    get count() {
      return watches.size;
    },
    close() {
      closed = true;
      for (const watcher of watches.values()) watcher.close();
      watches.clear();
      for (const { timer } of pending.values()) clearTimeout(timer);
      pending.clear();
    },
  };
}
