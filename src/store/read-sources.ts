// Read the drop-ins from disk, treating them as untrusted: the directory's mode, symlinks kept inside it, each file read by readSourceFile (as sshd's StrictModes).
import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { Diagnostic } from '../config/types.js';
import { isErrno } from '../errors.js';
import { isDropInName } from '../config/ignored-names.js';
import { identities } from './drop-in-cache.js';
import { fileError, readSourceFile, type SourceFile } from './read-source-file.js';

/** Files read at once: each read is several round trips to libuv's thread pool, so overlapping them is what makes 10,000 drop-ins fast. */
const READ_CONCURRENCY = 32;

/** A drop-in whose identity matched what the caller already parsed: not read again. */
export type DropInSource = SourceFile | { file: string; reused: true };

export interface ReadDropInsOptions {
  /** Called with each regular file's identity (see drop-in-cache.ts); true skips reading it. */
  reuse?: (file: string, identity: string) => boolean;
}

export interface DropInListing {
  files: DropInSource[];
  /** With `reuse`: each file's identity as stat'ed before it was read (undefined: not known). */
  identities?: (string | undefined)[];
  /** Problems with the directory itself (world-writable: every drop-in in it is rejected). */
  dirErrors: Diagnostic[];
  /** False when the directory does not exist (no drop-ins, not an error). */
  exists: boolean;
  /** What was listed (names in load order, symlinks, the resolved directory), when every entry could be judged. */
  listed?: { names: string[]; symlinks: Set<string>; dirReal: string };
  /** A hinted read: the named entries found gone. */
  gone?: string[];
}

export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The drop-ins in lexical order; ConfigMap layouts (`x.yaml -> ..data/x.yaml`) read through their symlinks. */
export async function readDropIns(dir: string, opts: ReadDropInsOptions = {}): Promise<DropInListing> {
  let entries: Dirent[];
  let dirReal: string;
  try {
    const info = await stat(dir);
    if (!info.isDirectory()) {
      return { files: [], exists: true, dirErrors: [{ file: dir, line: 0, col: 0, severity: 'error', message: 'services_dir is not a directory' }] };
    }
    dirReal = await realpath(dir);
    // The entry types come with the listing (no lstat per file to spot symlinks).
    entries = (await readdir(dir, { withFileTypes: true })).filter((e) => isDropInName(e.name)).sort((a, b) => byteOrder(a.name, b.name));
    if (info.mode & 0o002) {
      const message = `directory is world-writable (mode ${(info.mode & 0o7777).toString(8)}): anyone could add services, so its drop-ins are ignored`;
      return {
        exists: true,
        dirErrors: [{ file: dir, line: 0, col: 0, severity: 'error', message, hint: `chmod o-w ${dir} (the package sets root:coral 2775)` }],
        files: entries.map((e) => fileError(join(dir, e.name), 'ignored: it sits in a world-writable directory')),
      };
    }
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return { files: [], dirErrors: [], exists: false };
    if (isErrno(error, 'ELOOP')) {
      return { files: [], exists: true, dirErrors: [{ file: dir, line: 0, col: 0, severity: 'error', message: 'symlink loop: services_dir cannot be read' }] };
    }
    if (isErrno(error, 'EACCES')) {
      return { files: [], exists: true, dirErrors: [{ file: dir, line: 0, col: 0, severity: 'error', message: 'permission denied reading the directory', hint: 'run as root or as a member of group coral' }] };
    }
    throw error;
  }
  const read = (e: Dirent): Promise<SourceFile> => readDropIn({ file: join(dir, e.name), isSymlink: e.isSymbolicLink(), dir, dirReal });
  const { reuse } = opts;
  const listed = { names: entries.map((e) => e.name), symlinks: new Set(entries.filter((e) => e.isSymbolicLink()).map((e) => e.name)), dirReal };
  if (!reuse) return { files: await mapInOrder(entries, READ_CONCURRENCY, read), dirErrors: [], exists: true, listed };
  // Identity first, then the read: a file changed in between is seen as changed next time.
  const ids = await identities(entries, (e) => join(dir, e.name));
  const files: DropInSource[] = new Array<DropInSource>(entries.length);
  const toRead: number[] = [];
  entries.forEach((e, i) => {
    const file = join(dir, e.name);
    const id = ids[i];
    // A symlink's target check is redone every time (its link can be re-pointed without touching the target).
    if (id !== undefined && !e.isSymbolicLink() && reuse(file, id)) files[i] = { file, reused: true };
    else toRead.push(i);
  });
  const fresh = await mapInOrder(toRead, READ_CONCURRENCY, (i) => read(entries[i]!));
  toRead.forEach((index, k) => {
    files[index] = fresh[k]!;
  });
  return { files, identities: ids, dirErrors: [], exists: true, listed };
}

export async function mapInOrder<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      out[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export async function readDropIn(opts: { file: string; isSymlink: boolean; dir: string; dirReal: string }): Promise<SourceFile> {
  const { file, dir, dirReal } = opts;
  if (!opts.isSymlink) return readSourceFile(file, { followSymlinks: false });
  let target: string;
  try {
    target = await realpath(file);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return fileError(file, 'dangling symlink or file removed while reading');
    if (isErrno(error, 'ELOOP')) return fileError(file, 'symlink loop');
    if (isErrno(error, 'EACCES')) return fileError(file, 'permission denied following the symlink', 'run as root or as a member of group coral');
    throw error;
  }
  if (!target.startsWith(dirReal + sep)) {
    return fileError(file, `symlink leads outside ${dir} (to ${target}): refusing to follow it`, 'copy the file into the directory instead of linking to it');
  }
  // The resolved target, not the link: re-pointed in between, it is refused rather than followed.
  const read = await readSourceFile(target, { followSymlinks: false });
  return 'bytes' in read ? { file, bytes: read.bytes } : { ...read, file, error: { ...read.error, file } };
}
