// Listening TCP sockets on this host (from /proc/net/tcp and tcp6) and the processes that own them.
import { readFile, readdir, readlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { isErrno } from '../errors.js';

export interface Listener {
  port: number;
  inode: string;
  /** Undefined when the owner cannot be read (another user's process without privileges). */
  pid?: number;
  /** Executable path, else comm. */
  exe?: string;
  /** Basename of the executable: what Beyla reports as process_name. */
  name?: string;
}

const TCP_LISTEN = '0A';
const GONE = ['ENOENT', 'EACCES', 'EPERM', 'ESRCH', 'ENOTDIR'];

function isGone(error: unknown): boolean {
  return GONE.some((code) => isErrno(error, code));
}

async function readOptional(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (isGone(error)) return '';
    throw error;
  }
}

async function listOptional(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if (isGone(error)) return [];
    throw error;
  }
}

async function linkOptional(path: string): Promise<string | undefined> {
  try {
    return await readlink(path);
  } catch (error) {
    if (isGone(error)) return undefined;
    throw error;
  }
}

/** Every LISTEN socket whose port `wanted` accepts, with its owner where it can be read. */
export async function findListeners(wanted: (port: number) => boolean, procRoot = '/proc'): Promise<Listener[]> {
  const byInode = new Map<string, Listener>();
  for (const table of ['tcp', 'tcp6']) {
    for (const line of (await readOptional(`${procRoot}/net/${table}`)).split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== TCP_LISTEN) continue;
      const port = parseInt(fields[1]?.split(':')[1] ?? '', 16);
      const inode = fields[9] ?? '0';
      if (inode !== '0' && Number.isInteger(port) && wanted(port)) byInode.set(inode, { port, inode });
    }
  }
  if (byInode.size === 0) return [];
  let found = 0;
  for (const pidText of (await listOptional(procRoot)).filter((entry) => /^\d+$/.test(entry))) {
    for (const fd of await listOptional(`${procRoot}/${pidText}/fd`)) {
      const match = /^socket:\[(\d+)\]$/.exec((await linkOptional(`${procRoot}/${pidText}/fd/${fd}`)) ?? '');
      const listener = match?.[1] === undefined ? undefined : byInode.get(match[1]);
      if (!listener || listener.pid !== undefined) continue;
      const exe = (await linkOptional(`${procRoot}/${pidText}/exe`))?.replace(/ \(deleted\)$/, '')
        ?? (await readOptional(`${procRoot}/${pidText}/comm`)).trim();
      Object.assign(listener, { pid: Number(pidText), exe, name: exe ? basename(exe) : undefined });
      found += 1;
    }
    if (found === byInode.size) break;
  }
  return [...byInode.values()];
}
