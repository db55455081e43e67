// The polling fallback (chokidar's stat polling) for when inotify is out of watches or descriptors.
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
  return watcher;
}
