// Write one drop-in atomically: a hidden temp file in the same directory, fsync, rename, fsync of the directory.
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CoralError, isErrno } from '../errors.js';
import { isDropInName } from '../config/ignored-names.js';
import { storeError } from './lock-services-dir.js';

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
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
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
  try {
    const current = await readFile(path, 'utf8');
    if (current === text) return { path, changed: false };
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw storeError(error, 'read', path);
  }
  const tempPath = join(dir, tempNameFor(fileName));
  try {
    const handle = await open(tempPath, 'w', opts.mode ?? 0o644);
    try {
      await handle.chmod(opts.mode ?? 0o644); // the umask must not decide who may read it
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    opts.signal?.throwIfAborted();
    await rename(tempPath, path);
  } catch (error) {
    await unlink(tempPath).catch((cleanup: unknown) => {
      if (!isErrno(cleanup, 'ENOENT')) throw storeError(cleanup, 'remove the temp file', tempPath);
    });
    throw storeError(error, 'write', path);
  }
  try {
    await syncDir(dir);
  } catch (error) {
    throw storeError(error, 'sync the directory', dir);
  }
  return { path, changed: true };
}
