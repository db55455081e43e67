// The names of entries that change in one directory (inotify through fs.watch), with a fence: once it resolves, every change made before it was reported.
import { type FSWatcher, statSync, unlinkSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface EntryWatch {
  readonly dir: string;
  /**
   * Creates and removes a hidden file of its own and waits for its event: inotify reports a
   * directory's changes in order, so once that event is here, every earlier change has been
   * passed to `onEntry`. False when it cannot tell (the watch failed or overflowed, the directory
   * was replaced, no event within `timeoutMs`): the caller then lists the directory.
   */
  fence(timeoutMs?: number): Promise<boolean>;
  close(): void;
}

export interface WatchEntriesOptions {
  dir: string;
  /** A name in `dir` that was created, removed, renamed or written. */
  onEntry: (name: string) => void;
}

const FENCE_PREFIX = '.coral-fence.';

/** Whether a name is a fence file (hidden: the loader and the config watcher ignore it). */
export const isFenceName = (name: string): boolean => name.startsWith(FENCE_PREFIX);

function identityOf(dir: string): string | undefined {
  try {
    const info = statSync(dir);
    return info.isDirectory() ? `${info.dev}:${info.ino}` : undefined;
  } catch {
    return undefined;
  }
}

/** Undefined when the directory cannot be watched (missing, no inotify watches left). */
export function watchEntries(opts: WatchEntriesOptions): EntryWatch | undefined {
  const { dir } = opts;
  const identity = identityOf(dir);
  if (identity === undefined) return undefined;
  let watcher: FSWatcher;
  try {
    watcher = watch(dir, { persistent: false });
  } catch {
    return undefined;
  }
  let healthy = true;
  let fences = 0;
  const waiting = new Map<string, () => void>();
  const fail = (): void => {
    healthy = false;
    for (const done of waiting.values()) done();
    waiting.clear();
  };
  watcher.on('change', (_event, filename) => {
    // No name: inotify could not say what changed (its queue overflowed, or the directory itself went).
    if (filename === null || filename === undefined) return fail();
    const name = String(filename);
    const done = waiting.get(name);
    if (done) {
      waiting.delete(name);
      done();
    } else if (!isFenceName(name)) {
      opts.onEntry(name);
    }
  });
  watcher.on('error', fail);
  return {
    dir,
    async fence(timeoutMs = 2000): Promise<boolean> {
      if (!healthy || identityOf(dir) !== identity) return false;
      const name = `${FENCE_PREFIX}${process.pid}.${++fences}`;
      let timer: NodeJS.Timeout | undefined;
      const seen = new Promise<boolean>((resolve) => {
        waiting.set(name, () => resolve(healthy));
        timer = setTimeout(() => {
          waiting.delete(name);
          resolve(false);
        }, timeoutMs);
      });
      try {
        // Two system calls of a few µs: not worth two trips through the thread pool.
        writeFileSync(join(dir, name), '', { flag: 'wx', mode: 0o600 });
        unlinkSync(join(dir, name));
      } catch {
        waiting.delete(name);
        clearTimeout(timer);
        return false;
      }
      try {
        return await seen;
      } finally {
        clearTimeout(timer);
      }
    },
    close(): void {
      fail();
      watcher.close();
    },
  };
}
