// The polling fallback (chokidar's stat polling) for when inotify is out of watches or descriptors.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../log.js';
import { isConfigMapEntry, isDropInName } from '../config/ignored-names.js';
import type { DirChange, DirWatchLayout } from './watch-dirs.js';

export interface PollConfigOptions {
  layout: DirWatchLayout;
  /** What services_dir resolves to, when it is a symlink (polled as a root of its own). */
  servicesReal: string | undefined;
  intervalMs: number;
  awaitWriteFinishMs: number;
  logger: Logger;
  onChange: (change: DirChange) => void;
}

/**
 * chokidar polls every file it sees (one stat per file per interval): slow with thousands of
 * drop-ins, but it needs no inotify watch and no descriptor. Watches the parents, never the
 * directories themselves: chokidar goes deaf when a watched root is deleted and recreated, but sees
 * a child directory come back. Resolves once the first scan is done.
 */
export async function pollConfig(opts: PollConfigOptions): Promise<FSWatcher> {
  const { layout, servicesReal } = opts;
  const roots = [...new Set([layout.configDir, layout.servicesParent, ...(servicesReal ? [servicesReal] : [])])];
  /** A path under the symlink's target, named as the loader names it. */
  const named = (p: string): string => (servicesReal && path.dirname(p) === servicesReal ? path.join(layout.servicesDir, path.basename(p)) : p);
  const relevant = (p: string): boolean => {
    if (roots.includes(p) || p === layout.servicesDir) return true;
    const dir = path.dirname(p);
    const name = path.basename(p);
    if (dir === layout.servicesDir || dir === servicesReal) return isDropInName(name) || isConfigMapEntry(name);
    if (dir === layout.configDir && name === layout.mainName) return true;
    return (dir === layout.configDir || dir === layout.servicesParent) && isConfigMapEntry(name);
  };
  const watcher = watch(roots, {
    ignoreInitial: true,
    persistent: true,
    depth: 1,
    followSymlinks: false,
    usePolling: true,
    interval: opts.intervalMs,
    binaryInterval: opts.intervalMs,
    awaitWriteFinish: opts.awaitWriteFinishMs > 0
      ? { stabilityThreshold: opts.awaitWriteFinishMs, pollInterval: Math.max(5, Math.floor(opts.awaitWriteFinishMs / 4)) }
      : false,
    ignored: (p: string) => !relevant(p),
  });
  watcher.on('all', (event, p) => opts.onChange({ event, path: named(p) }));
  watcher.on('error', (error) => opts.logger.error({ err: error }, 'config poller error'));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  // chokidar lists a directory, then starts polling it; the poll's first stat, taken later on
  // libuv's pool, is its baseline. An entry created between the two is in that baseline but was
  // not in the listing, so it would never be reported (seen: 5 of 40 writes right after start at a
  // load average of 17). Listing again once the first polls have surely run closes that gap.
  const catchUp = setTimeout(() => {
    if (watcher.closed) return;
    reportUnlisted(watcher, roots, relevant, (p) => opts.onChange({ event: 'add', path: named(p) }))
      .catch((error: unknown) => opts.logger.warn({ err: error }, 'config poller: listing the watched directories again failed'));
  }, 2 * opts.intervalMs + opts.awaitWriteFinishMs);
  catchUp.unref();
  return watcher;
}

/** Reports every relevant entry of the watched directories that chokidar is not polling. */
async function reportUnlisted(watcher: FSWatcher, roots: readonly string[], relevant: (p: string) => boolean, report: (p: string) => void): Promise<void> {
  const watched = watcher.getWatched();
  const dirs = new Set([...roots, ...Object.keys(watched)]);
  for (const dir of dirs) {
    if (watcher.closed) return;
    const known = new Set(watched[dir] ?? []);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      continue; // gone or unreadable: chokidar reports what it can, the resync covers the rest
    }
    for (const name of names) {
      const p = path.join(dir, name);
      if (!known.has(name) && relevant(p)) report(p);
    }
  }
}
