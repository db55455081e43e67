// Write one drop-in atomically: a hidden temp file in the same directory, fsync, rename, fsync of the directory.
import { closeSync, fchmodSync, fsync as fsyncCallback, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { CoralError, isErrno } from '../errors.js';
import { isDropInName } from '../config/ignored-names.js';
import { storeError } from './lock-services-dir.js';

const fsync = promisify(fsyncCallback);

export interface WriteDropInOptions {
  dir: string;
  /** File name inside `dir`, e.g. `frontend.yaml`. */
  fileName: string;
  text: string;
  /** Aborted when the directory lock is lost: the rename is then not done. */
  signal?: AbortSignal;
  /** Default 0o644: readable by the agent, never world-writable (the loader refuses that). */
  mode?: number;
}

export interface WriteDropInResult {
  path: string;
  /** False when the file already held exactly this text (nothing written). */
  changed: boolean;
}

/** fsync a directory so a rename or unlink in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The temp name the watcher and loader ignore (leading dot, `.tmp`), unique per process. */
export function tempNameFor(fileName: string): string {
  return `.${fileName}.${process.pid}.tmp`;
}

/**
 * Readers see the old file or the new one, never a partial one. Call it holding the directory
 * lock (lockServicesDir) so that two writers do not interleave their checks and renames.
 */
export async function writeDropIn(opts: WriteDropInOptions): Promise<WriteDropInResult> {
  const { dir, fileName, text } = opts;
  if (!isDropInName(fileName) || fileName.includes('/')) {
    throw new CoralError('INTERNAL', `"${fileName}" is not a drop-in file name`);
  }
  const path = join(dir, fileName);
  // Synchronous calls for these few-µs steps: each trip through the thread pool costs a thread wake-up, which on a loaded
  // machine is milliseconds (a write took 45 ms that way at load 30, 10 ms like this); only the fsyncs, which wait for the disk, go async.
  try {
    const current = readFileSync(path, 'utf8');
    if (current === text) return { path, changed: false };
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw storeError(error, 'read', path);
  }
  const tempPath = join(dir, tempNameFor(fileName));
  try {
    const fd = openSync(tempPath, 'w', opts.mode ?? 0o644);
    try {
      fchmodSync(fd, opts.mode ?? 0o644); // the umask must not decide who may read it
      writeFileSync(fd, text, 'utf8');
      await fsync(fd);
    } finally {
      closeSync(fd);
    }
    opts.signal?.throwIfAborted();
    renameSync(tempPath, path);
  } catch (error) {
    try {
      unlinkSync(tempPath);
    } catch (cleanup) {
      if (!isErrno(cleanup, 'ENOENT')) throw storeError(cleanup, 'remove the temp file', tempPath);
    }
    throw storeError(error, 'write', path);
  }
  try {
    await syncDir(dir);
  } catch (error) {
    throw storeError(error, 'sync the directory', dir);
  }
  return { path, changed: true };
}
