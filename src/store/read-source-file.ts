// readSourceFile: reads one config file as untrusted input: a regular, not world-writable file of at most 1 MiB, checked on its descriptor, with a deadline.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Diagnostic } from '../config/types.js';
import { isErrno } from '../errors.js';

/** Larger files are rejected unread. */
export const MAX_FILE_BYTES = 1024 * 1024;

export type SourceFile = { file: string; bytes: Uint8Array } | { file: string; error: Diagnostic; missing?: true };

export function fileError(file: string, message: string, hint?: string): { file: string; error: Diagnostic } {
  return { file, error: { file, line: 0, col: 0, severity: 'error', message, ...(hint ? { hint } : {}) } };
}

/** A read of one file that takes longer than this (a hung network or FUSE file system) is given up. */
export const READ_DEADLINE_MS = 5000;

/** Rejects with code ETIMEDOUT after `ms` unless `promise` settles first. */
async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('read timed out'), { code: 'ETIMEDOUT' })), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Read at most MAX_FILE_BYTES + 1 bytes; the buffer starts at the size fstat saw and grows only if the file does. */
async function readCapped(handle: FileHandle, sizeHint: number): Promise<Uint8Array> {
  let buffer = Buffer.allocUnsafe(Math.min(sizeHint, MAX_FILE_BYTES) + 1);
  let total = 0;
  for (;;) {
    if (total === buffer.length) {
      if (total > MAX_FILE_BYTES) break;
      const bigger = Buffer.allocUnsafe(Math.min(buffer.length * 2, MAX_FILE_BYTES + 1));
      buffer.copy(bigger, 0, 0, total);
      buffer = bigger;
    }
    const wanted = buffer.length - total;
    const { bytesRead } = await handle.read(buffer, total, wanted, null);
    total += bytesRead;
    // A short read of a regular file is its end: no extra read just to see 0 bytes.
    if (bytesRead < wanted) break;
  }
  return buffer.subarray(0, total);
}

export interface ReadSourceFileOptions {
  /**
   * False for a path that must not be a symlink (a listed drop-in, or a symlink's resolved
   * target): opened with O_NOFOLLOW, so a symlink swapped in after the listing is refused.
   */
  followSymlinks?: boolean;
}

/**
 * Read one file that must be a regular, not world-writable file of at most 1 MiB. It is opened
 * with O_NONBLOCK (a FIFO swapped in cannot block the open) and its type, mode and size are
 * checked with fstat on that descriptor, never on the path; the read has a deadline.
 */
export async function readSourceFile(file: string, opts: ReadSourceFileOptions = {}): Promise<SourceFile> {
  const follow = opts.followSymlinks ?? true;
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | (follow ? 0 : constants.O_NOFOLLOW));
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return { ...fileError(file, 'no such file'), missing: true };
    if (isErrno(error, 'EACCES')) return fileError(file, 'permission denied', 'run as root or as a member of group coral');
    if (isErrno(error, 'ELOOP')) return fileError(file, follow ? 'symlink loop' : 'replaced by a symlink while being read: refusing to follow it');
    // A socket (ENXIO) or a device that will not open is no config file either.
    if (isErrno(error, 'ENXIO') || isErrno(error, 'ENODEV') || isErrno(error, 'EOPNOTSUPP')) return fileError(file, 'not a regular file');
    throw error;
  }
  let timedOut = false;
  try {
    const info = await withDeadline(handle.stat(), READ_DEADLINE_MS);
    if (!info.isFile()) return fileError(file, 'not a regular file');
    if (info.mode & 0o002) return fileError(file, `file is world-writable (mode ${(info.mode & 0o777).toString(8)}): refusing to trust it`, `chmod o-w ${file}`);
    if (info.size > MAX_FILE_BYTES) return fileError(file, `file is ${info.size} bytes, over the 1 MiB limit`, 'a service definition is a few lines; split or fix the file');
    const bytes = await withDeadline(readCapped(handle, info.size), READ_DEADLINE_MS);
    if (bytes.length > MAX_FILE_BYTES) return fileError(file, 'file grew over the 1 MiB limit while being read');
    return { file, bytes };
  } catch (error) {
    if (isErrno(error, 'ETIMEDOUT')) {
      timedOut = true;
      return fileError(file, `reading the file took over ${READ_DEADLINE_MS / 1000} s: given up`, 'check the file system it lives on');
    }
    if (isErrno(error, 'EACCES')) return fileError(file, 'permission denied', 'run as root or as a member of group coral');
    if (isErrno(error, 'EIO')) return fileError(file, 'I/O error while reading the file');
    throw error;
  } finally {
    // A read that hung may still hold the handle: close it when it comes back, without waiting.
    if (timedOut) void handle.close().catch(() => undefined);
    else await handle.close();
  }
}
