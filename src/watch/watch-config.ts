// Watches the config file and the services.d drop-ins and turns every relevant change into "dirty".
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../log.js';
import { isConfigMapEntry, isDropInName } from '../config/ignored-names.js';

/** Why the consumer should re-read the whole configuration. Events are hints, never data. */
export interface DirtyReason {
  kind: 'event' | 'resync';
  /** chokidar event name (`add`, `change`, `unlink`, `addDir`, `unlinkDir`) or `polling_fallback`. */
  event?: string;
  path?: string;
}

export type WatchMode = 'inotify' | 'polling';

export interface ConfigWatcher {
  /** `polling` when forced or after the inotify watch limit was hit. */
  readonly mode: WatchMode;
  close(): Promise<void>;
}

export interface WatchConfigOptions {
  configPath: string;
  servicesDir: string;
  /** Period of the full resync that covers lost events; 0 disables it. */
  resyncMs: number;
  logger: Logger;
  signal: AbortSignal;
  onDirty: (reason: DirtyReason) => void;
  usePolling?: boolean;
  /** How long a file's size must stay unchanged before its add/change counts; 0 disables. */
  awaitWriteFinishMs?: number;
  /** stat period in polling mode. */
  pollIntervalMs?: number;
}

const DEFAULT_AWAIT_WRITE_FINISH_MS = 50;
const DEFAULT_POLL_INTERVAL_MS = 1000;
const WATCH_LIMIT_ERRORS = new Set(['ENOSPC', 'EMFILE']);
/** How often the services directory's identity is compared, beside every event. */
const IDENTITY_CHECK_MS = 5000;

interface WatchLayout {
  configDir: string;
  mainName: string;
  servicesDir: string;
  servicesParent: string;
  roots: string[];
}

function layoutOf(configPath: string, servicesDir: string): WatchLayout {
  const main = path.resolve(configPath);
  const services = path.resolve(servicesDir);
  const configDir = path.dirname(main);
  const servicesParent = path.dirname(services);
  // Watch parents, never the directories themselves: chokidar goes deaf when a watched
  // root is deleted and recreated, but sees a child directory come back.
  const roots = [...new Set([configDir, servicesParent])];
  return { configDir, mainName: path.basename(main), servicesDir: services, servicesParent, roots };
}

/** Whether a path (as chokidar reports it) can change what the loader reads. */
function isRelevantPath(layout: WatchLayout, p: string): boolean {
  if (layout.roots.includes(p) || p === layout.servicesDir) return true;
  const dir = path.dirname(p);
  const name = path.basename(p);
  if (dir === layout.servicesDir) return isDropInName(name) || isConfigMapEntry(name);
  if (dir === layout.configDir && name === layout.mainName) return true;
  return (dir === layout.configDir || dir === layout.servicesParent) && isConfigMapEntry(name);
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export async function watchConfig(opts: WatchConfigOptions): Promise<ConfigWatcher> {
  const layout = layoutOf(opts.configPath, opts.servicesDir);
  const logger = opts.logger.child({ component: 'watch' });
  const awaitWriteFinishMs = opts.awaitWriteFinishMs ?? DEFAULT_AWAIT_WRITE_FINISH_MS;
  const pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  let mode: WatchMode = opts.usePolling ? 'polling' : 'inotify';
  let closing: Promise<void> | undefined;
  let current: FSWatcher | undefined;
  let resyncTimer: NodeJS.Timeout | undefined;
  const timers: { identity?: NodeJS.Timeout } = {};
  // Readiness of the current watcher; a replaced (failed) watcher stops holding it up.
  let ready: Promise<void> = Promise.resolve();
  let releaseReady: () => void = () => {};

  const emitDirty = (reason: DirtyReason): void => {
    if (closing) return;
    try {
      opts.onDirty(reason);
    } catch (error) {
      logger.error({ err: error, reason }, 'onDirty handler threw');
    }
  };

  const start = (): void => {
    releaseReady();
    const watcher = watch(layout.roots, {
      ignoreInitial: true,
      persistent: true,
      depth: 1,
      followSymlinks: false,
      usePolling: mode === 'polling',
      interval: pollIntervalMs,
      binaryInterval: pollIntervalMs,
      awaitWriteFinish: awaitWriteFinishMs > 0
        ? { stabilityThreshold: awaitWriteFinishMs, pollInterval: Math.max(5, Math.floor(awaitWriteFinishMs / 4)) }
        : false,
      ignored: (p: string) => !isRelevantPath(layout, p),
    });
    current = watcher;
    watcher.on('all', (event, p) => {
      if (watcher !== current) return;
      logger.debug({ event, path: p }, 'config path changed');
      emitDirty({ kind: 'event', event, path: p });
      checkIdentity();
    });
    watcher.on('error', (error) => {
      if (watcher !== current) return;
      const code = errnoCode(error);
      if (mode === 'inotify' && code !== undefined && WATCH_LIMIT_ERRORS.has(code)) {
        fallBackToPolling(watcher, error);
        return;
      }
      logger.error({ err: error, code }, 'config watcher error');
    });
    ready = new Promise<void>((resolve) => {
      releaseReady = resolve;
      watcher.once('ready', () => resolve());
    });
  };
  const awaitReady = async (): Promise<void> => {
    let seen: Promise<void>;
    do {
      seen = ready;
      await seen;
    } while (seen !== ready && !closing);
  };

  // chokidar can keep its watch on a services.d that was deleted and at once recreated, and then
  // miss everything in the new one: on every event, on resync and every few seconds, compare the
  // directory's identity and watch afresh when it changed.
  let identity: string | undefined;
  let identityCheck: Promise<void> = Promise.resolve();
  const dirIdentity = async (): Promise<string> => {
    try {
      const info = await stat(layout.servicesDir);
      // The inode number alone is not enough: a directory recreated at once often gets the same one.
      return `${info.dev}:${info.ino}:${info.birthtimeMs}`;
    } catch {
      return 'missing';
    }
  };
  const checkIdentity = (): void => {
    identityCheck = identityCheck.then(async () => {
      const now = await dirIdentity();
      const before = identity;
      identity = now;
      // Deleted, or created where there was none: chokidar sees that itself (unlinkDir, addDir).
      if (before === undefined || before === now || closing || now === 'missing' || before === 'missing') return;
      logger.info({ path: layout.servicesDir }, 'services directory was replaced; watching the new one');
      const old = current;
      current = undefined;
      await old?.close();
      if (closing) return;
      start();
      await awaitReady();
      emitDirty({ kind: 'event', event: 'replaced', path: layout.servicesDir });
    }).catch((error: unknown) => logger.error({ err: error }, 'checking the services directory failed'));
  };

  const fallBackToPolling = (failed: FSWatcher, error: unknown): void => {
    mode = 'polling';
    logger.warn(
      { err: error, code: errnoCode(error), watch_roots: layout.roots },
      'out of inotify watches or file descriptors; falling back to polling (raise fs.inotify.max_user_watches or LimitNOFILE to restore inotify)',
    );
    current = undefined;
    void failed.close().catch((closeError: unknown) => {
      logger.error({ err: closeError }, 'closing the failed inotify watcher failed');
    });
    if (closing) return;
    start();
    void ready.then(() => emitDirty({ kind: 'resync', event: 'polling_fallback' }));
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      opts.signal.removeEventListener('abort', onAbort);
      if (resyncTimer) clearInterval(resyncTimer);
      clearInterval(timers.identity);
      releaseReady();
      const watcher = current;
      current = undefined;
      await watcher?.close();
      logger.debug('config watcher closed');
    })();
    return closing;
  };
  const onAbort = (): void => {
    close().catch((error: unknown) => logger.error({ err: error }, 'closing the config watcher failed'));
  };

  if (opts.signal.aborted) {
    return { mode, close: () => Promise.resolve() };
  }
  opts.signal.addEventListener('abort', onAbort, { once: true });
  identity = await dirIdentity();
  start();
  await awaitReady();
  timers.identity = setInterval(checkIdentity, IDENTITY_CHECK_MS);
  timers.identity.unref();
  if (opts.resyncMs > 0 && !closing) {
    resyncTimer = setInterval(() => {
      emitDirty({ kind: 'resync' });
      checkIdentity();
    }, opts.resyncMs);
    resyncTimer.unref();
  }
  logger.info({ mode, watch_roots: layout.roots, resync_ms: opts.resyncMs }, 'watching config');
  return {
    get mode() {
      return mode;
    },
    close,
  };
}
