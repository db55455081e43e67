// Watches the config file and the services.d drop-ins and turns every relevant change into "dirty".
import path from 'node:path';
import type { FSWatcher } from 'chokidar';
import type { Logger } from '../log.js';
import { pollConfig } from './poll-config.js';
import { identityOf, watchDirs, type DirChange, type DirWatches, type DirWatchLayout } from './watch-dirs.js';

/** Why the consumer should re-read the configuration. Events are hints, never data. */
export interface DirtyReason {
  kind: 'event' | 'resync';
  /**
   * `add`, `change`, `unlink` (an entry), `addDir`, `unlinkDir`, `replaced` (services_dir itself),
   * `unnamed` (the kernel named no entry), or for a resync `polling_fallback` / the reason asked for.
   */
  event?: string;
  path?: string;
}

export type WatchMode = 'inotify' | 'polling';

export interface ConfigWatcher {
  /** `polling` when forced or after the inotify watch limit was hit. */
  readonly mode: WatchMode;
  /** inotify watches held now: one per watched directory, whatever the number of drop-ins (0 when polling). */
  readonly watches: number;
  /** Report a resync now (an event may have been lost, e.g. while the agent was out of descriptors). */
  resyncSoon(reason: string): void;
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
  /** How long an entry must stay quiet before its change counts; 0 disables. */
  awaitWriteFinishMs?: number;
  /** stat period in polling mode. */
  pollIntervalMs?: number;
}

const DEFAULT_AWAIT_WRITE_FINISH_MS = 50;
const DEFAULT_POLL_INTERVAL_MS = 1000;
const WATCH_LIMIT_ERRORS = new Set(['ENOSPC', 'EMFILE', 'ENFILE']);
/** How often services_dir is resolved again (a symlink re-pointed, a directory replaced), beside every event about it and every resync. */
const IDENTITY_CHECK_MS = 5000;

function layoutOf(configPath: string, servicesDir: string): DirWatchLayout {
  const main = path.resolve(configPath);
  const services = path.resolve(servicesDir);
  return { configDir: path.dirname(main), mainName: path.basename(main), servicesDir: services, servicesParent: path.dirname(services) };
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** What services_dir resolves to when that is another path (a symlink), else undefined. */
function resolvedElsewhere(dir: string): string | undefined {
  const identity = identityOf(dir);
  if (identity === 'missing') return undefined;
  const real = identity.slice(0, identity.indexOf(':'));
  return real === dir ? undefined : real;
}

/**
 * inotify on the directories (src/watch/watch-dirs.ts, node's fs.watch), not on each file:
 * chokidar adds one watch per file and lists and lstats the whole directory again after each
 * change, which with 10,000 drop-ins is 10,000 watches and ~0.5 s of CPU per change. chokidar
 * stays for the polling fallback. Events are hints; the periodic resync covers lost ones.
 */
export async function watchConfig(opts: WatchConfigOptions): Promise<ConfigWatcher> {
  const layout = layoutOf(opts.configPath, opts.servicesDir);
  const logger = opts.logger.child({ component: 'watch' });
  const awaitWriteFinishMs = opts.awaitWriteFinishMs ?? DEFAULT_AWAIT_WRITE_FINISH_MS;
  const pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  let mode: WatchMode = opts.usePolling ? 'polling' : 'inotify';
  let closing: Promise<void> | undefined;
  let dirs: DirWatches | undefined;
  let poller: FSWatcher | undefined;
  let pollerIdentity = 'missing';
  let pollerRestart: Promise<void> = Promise.resolve();
  const timers: { resync?: NodeJS.Timeout; identity?: NodeJS.Timeout } = {};

  const emitDirty = (reason: DirtyReason): void => {
    if (closing) return;
    try {
      opts.onDirty(reason);
    } catch (error) {
      logger.error({ err: error, reason }, 'onDirty handler threw');
    }
  };
  const onChange = (change: DirChange): void => {
    logger.debug({ event: change.event, path: change.path }, 'config path changed');
    if (change.event === 'unnamed') emitDirty({ kind: 'resync', event: 'unnamed', path: change.path });
    else emitDirty({ kind: 'event', event: change.event, path: change.path });
  };

  const startPolling = async (): Promise<void> => {
    pollerIdentity = identityOf(layout.servicesDir);
    const started = await pollConfig({ layout, servicesReal: resolvedElsewhere(layout.servicesDir), intervalMs: pollIntervalMs, awaitWriteFinishMs, logger, onChange });
    if (closing) await started.close();
    else poller = started;
  };
  const fallBackToPolling = (error: unknown): void => {
    if (mode === 'polling' || closing) return;
    mode = 'polling';
    logger.warn(
      { err: error, code: errnoCode(error), watched: [layout.configDir, layout.servicesDir] },
      'out of inotify watches or file descriptors; falling back to polling (raise fs.inotify.max_user_watches or LimitNOFILE to restore inotify)',
    );
    dirs?.close();
    dirs = undefined;
    pollerRestart = startPolling()
      .then(() => emitDirty({ kind: 'resync', event: 'polling_fallback' }))
      .catch((pollError: unknown) => logger.error({ err: pollError }, 'starting the config poller failed'));
  };

  /** services_dir resolved again: the inotify watches follow at once; the poller is restarted on a change. */
  const recheck = (): void => {
    if (closing) return;
    if (dirs) {
      dirs.recheck();
      return;
    }
    if (mode !== 'polling' || !poller) return;
    const now = identityOf(layout.servicesDir);
    if (now === pollerIdentity) return;
    const before = pollerIdentity;
    pollerIdentity = now;
    if (before === 'missing' || now === 'missing') return;
    logger.info({ path: layout.servicesDir }, 'services directory was replaced; polling the new one');
    const old = poller;
    poller = undefined;
    pollerRestart = pollerRestart
      .then(() => old.close())
      .then(() => startPolling())
      .then(() => emitDirty({ kind: 'event', event: 'replaced', path: layout.servicesDir }))
      .catch((error: unknown) => logger.error({ err: error }, 'restarting the config poller failed'));
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      opts.signal.removeEventListener('abort', onAbort);
      clearInterval(timers.resync);
      clearInterval(timers.identity);
      dirs?.close();
      dirs = undefined;
      await pollerRestart;
      const watcher = poller;
      poller = undefined;
      await watcher?.close();
      logger.debug('config watcher closed');
    })();
    return closing;
  };
  const onAbort = (): void => {
    close().catch((error: unknown) => logger.error({ err: error }, 'closing the config watcher failed'));
  };

  const noop = { mode, watches: 0, resyncSoon: () => undefined, close: () => Promise.resolve() };
  if (opts.signal.aborted) return noop;
  opts.signal.addEventListener('abort', onAbort, { once: true });
  if (mode === 'inotify') {
    try {
      dirs = watchDirs({ layout, logger, quietMs: awaitWriteFinishMs, onChange, onError: fallBackToPolling });
    } catch (error) {
      if (!WATCH_LIMIT_ERRORS.has(errnoCode(error) ?? '')) throw error;
      fallBackToPolling(error);
    }
  } else {
    pollerRestart = startPolling();
  }
  await pollerRestart;
  timers.identity = setInterval(recheck, IDENTITY_CHECK_MS);
  timers.identity.unref();
  if (opts.resyncMs > 0 && !closing) {
    timers.resync = setInterval(() => {
      recheck();
      emitDirty({ kind: 'resync' });
    }, opts.resyncMs);
    timers.resync.unref();
  }
  logger.info({ mode, watches: dirs?.count ?? 0, watched: [layout.configDir, layout.servicesDir], resync_ms: opts.resyncMs }, 'watching config');
  return {
    get mode() {
      return mode;
    },
    get watches() {
      return dirs?.count ?? 0;
    },
    resyncSoon(reason: string) {
      recheck();
      emitDirty({ kind: 'resync', event: reason });
    },
    close,
  };
}
