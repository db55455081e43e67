// Remove one drop-in and fsync the directory, so the removal survives a crash.
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CoralError, isErrno } from '../errors.js';
import { isDropInName } from '../config/ignored-names.js';
import { storeError } from './lock-services-dir.js';
import { syncDir } from './write-drop-in.js';

export interface RemoveDropInOptions {
  dir: string;
  fileName: string;
  /** Aborted when the directory lock is lost: the file is then left alone. */
  signal?: AbortSignal;
}

/** True when the file was removed, false when it was not there. Call it holding the directory lock. */
export async function removeDropIn(opts: RemoveDropInOptions): Promise<boolean> {
  const { dir, fileName } = opts;
  if (!isDropInName(fileName) || fileName.includes('/')) {
    throw new CoralError('INTERNAL', `"${fileName}" is not a drop-in file name`);
  }
  const path = join(dir, fileName);
  opts.signal?.throwIfAborted();
  try {
    await unlink(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw storeError(error, 'remove', path);
  }
  try {
    await syncDir(dir);
  } catch (error) {
    throw storeError(error, 'sync the directory', dir);
  }
  return true;
}
