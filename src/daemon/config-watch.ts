// ConfigWatch: the daemon's config watcher; when services_dir changes it closes it and watches the new directory.
import type { AgentSettings } from '../config/types.js';
import type { Logger } from '../log.js';
import { watchConfig, type ConfigWatcher, type DirtyReason, type WatchMode } from '../watch/watch-config.js';

export interface ConfigWatchOptions {
  /** The settings in force (the reconcile run's), read at each start. */
  settings: () => AgentSettings;
  /** services_dir at start-up. */
  servicesDir: string;
  logger: Logger;
  signal: AbortSignal;
  onDirty: (reason: DirtyReason) => void;
}

export class ConfigWatch {
  private watcher: ConfigWatcher | undefined;
  private watchedDir: string;

  constructor(private readonly opts: ConfigWatchOptions) {
    this.watchedDir = opts.servicesDir;
  }

  /** Whether a watcher runs (from start() on). */
  get started(): boolean {
    return this.watcher !== undefined;
  }

  get mode(): WatchMode | undefined {
    return this.watcher?.mode;
  }

  async start(): Promise<void> {
    const settings = this.opts.settings();
    this.watcher = await watchConfig({
      configPath: settings.configPath,
      servicesDir: settings.servicesDir,
      resyncMs: settings.resyncMs,
      logger: this.opts.logger,
      signal: this.opts.signal,
      onDirty: this.opts.onDirty,
    });
    this.watchedDir = settings.servicesDir;
  }

  /** Settings were applied: watch `next.servicesDir` if it is not the watched one (once a watcher runs). */
  async follow(next: AgentSettings, logger: Logger): Promise<void> {
    if (next.servicesDir === this.watchedDir || !this.watcher) return;
    logger.info({ from: this.watchedDir, to: next.servicesDir }, 'services_dir changed: watching the new directory');
    await this.watcher.close();
    await this.start();
  }

  /** Asks the running watcher for a resync at once (it also resolves services_dir again). */
  resyncSoon(reason: string): void {
    this.watcher?.resyncSoon(reason);
  }

  async close(): Promise<void> {
    await this.watcher?.close();
  }
}
