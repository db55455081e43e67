// Hold the services directory's lock (proper-lockfile, `.coral.lock`, stale locks recovered) while a function runs.
import { mkdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoralError, isErrno } from '../errors.js';

/** Hidden, so the watcher and the loader ignore it (see ignored-names.ts). */
export const LOCK_NAME = '.coral.lock';

export const PERMISSION_HINT = 'run as root or as a member of group coral';

export interface LockServicesDirOptions {
  dir: string;
  /** Create the directory (0755) when it is missing. */
  create?: boolean;
  /** A lock not refreshed for this long belongs to a dead writer and is taken over. Default 10 s. */
  staleMs?: number;
  /** How long to wait for one live holder; the wait restarts whenever the lock changes hands. Default 60 s. */
  waitMs?: number;
  signal?: AbortSignal;
}

/** A filesystem error while touching the directory -> CoralError with a hint a person can act on. */
export function storeError(error: unknown, action: string, path: string): CoralError {
  if (error instanceof CoralError) return error;
  const details = { path };
  if (isErrno(error, 'EACCES') || isErrno(error, 'EPERM')) {
    return new CoralError('PERMISSION', `cannot ${action} ${path}: permission denied`, { hint: PERMISSION_HINT, cause: error, details });
  }
  if (isErrno(error, 'EROFS')) {
    return new CoralError('CANT_CREATE', `cannot ${action} ${path}: read-only file system`, { hint: 'services.d must be on a writable file system', cause: error, details });
  }
  if (isErrno(error, 'ENOSPC') || isErrno(error, 'EDQUOT')) {
    return new CoralError('CANT_CREATE', `cannot ${action} ${path}: no space left on device`, { hint: 'free some space and retry', cause: error, details });
  }
  if (isErrno(error, 'ENOTDIR')) {
    return new CoralError('CANT_CREATE', `cannot ${action} ${path}: a part of the path is not a directory`, { hint: 'check agent.services_dir', cause: error, details });
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new CoralError('IO', `cannot ${action} ${path}: ${reason}`, { cause: error, details });
}

/** Which lock directory this is (a new holder makes a new one); '' when it is gone. */
async function lockIdentity(lockPath: string): Promise<string> {
  try {
    const info = await stat(lockPath);
    return `${info.ino}:${info.birthtimeMs}`;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return '';
    throw storeError(error, 'read the lock', lockPath);
  }
}

/**
 * Run `fn` holding the lock on `dir`. Waiters poll with jittered backoff (10 ms doubling to
 * 100 ms) until `waitMs`; a holder refreshes the lock's mtime, so only a dead one goes stale.
 * `fn` gets a signal that aborts if the lock is lost (taken over as stale) before it finishes.
 */
export async function lockServicesDir<T>(opts: LockServicesDirOptions, fn: (lost: AbortSignal) => Promise<T>): Promise<T> {
  const { dir } = opts;
  const staleMs = opts.staleMs ?? 10_000;
  const waitMs = opts.waitMs ?? 60_000;
  const lockPath = join(dir, LOCK_NAME);
  if (opts.create) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 }); // one system call when it exists: not worth a thread-pool trip
    } catch (error) {
      throw storeError(error, 'create the services directory', dir);
    }
  }
  // Loaded here, not at the top: it patches fs (graceful-fs) and pulls in assert, which a command that never locks should not pay for.
  const { default: lockfile } = await import('proper-lockfile');
  const lost = new AbortController();
  let deadline = Date.now() + waitMs;
  let holder = '';
  let delayMs = 10;
  let release: () => Promise<void>;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      release = await lockfile.lock(dir, {
        lockfilePath: lockPath,
        stale: staleMs,
        realpath: false,
        retries: 0,
        onCompromised: (error) => lost.abort(new CoralError('TEMPORARY', `lost the lock ${lockPath} while writing (another process took it over as stale)`, { cause: error, hint: 'retry the command' })),
      });
      break;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) {
        throw new CoralError('CANT_CREATE', `the services directory ${dir} does not exist`, { cause: error, hint: 'create it, or check agent.services_dir', details: { path: dir } });
      }
      if (!isErrno(error, 'ELOCKED')) throw storeError(error, 'write to the services directory', dir);
      // Many writers in turn are progress, not a stuck holder: only the same lock held for waitMs times out.
      const current = await lockIdentity(lockPath);
      if (current !== holder) {
        holder = current;
        deadline = Date.now() + waitMs;
      }
      if (Date.now() >= deadline) {
        throw new CoralError('TEMPORARY', `${dir} is locked by another coral command (${LOCK_NAME}) for over ${Math.round(waitMs / 1000)} s`, {
          hint: `retry; a lock left by a killed process is taken over after ${Math.round(staleMs / 1000)} s`, cause: error, details: { path: lockPath },
        });
      }
      await sleep(Math.min(delayMs * (0.5 + Math.random()), Math.max(deadline - Date.now(), 1)), undefined, opts.signal ? { signal: opts.signal } : undefined);
      delayMs = Math.min(delayMs * 2, 100);
    }
  }
  let result: T;
  try {
    result = await fn(lost.signal);
  } catch (error) {
    if (!lost.signal.aborted) await release().catch(() => undefined); // the error of fn is the one to report
    throw error;
  }
  if (!lost.signal.aborted) {
    await release().catch((error: unknown) => {
      if (!isErrno(error, 'ERELEASED')) throw storeError(error, 'release the lock', lockPath);
    });
  }
  return result;
}
