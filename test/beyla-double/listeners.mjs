// Finds listening TCP sockets on the host from /proc (no connecting) and the processes that own them.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';

const TCP_LISTEN = '0A';
const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on every Linux Beyla supports

const readOptional = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if (error.code === 'ENOENT') return '';
    throw error;
  }
};

/** Every socket in LISTEN state in /proc/net/tcp and tcp6, as {port, inode}. */
export const listListeners = (procRoot = '/proc') => {
  const listeners = new Map();
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readOptional(`${procRoot}/net/${table}`).split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== TCP_LISTEN) continue;
      const port = parseInt(fields[1].split(':')[1], 16);
      const inode = fields[9];
      if (inode !== '0') listeners.set(`${port}/${inode}`, { port, inode });
    }
  }
  return [...listeners.values()];
};

/** Lists the entries of a /proc directory we may not read (other users, exited processes) as empty. */
const listOrEmpty = (path) => {
  try {
    return readdirSync(path);
  } catch (error) {
    if (['ENOENT', 'EACCES', 'EPERM', 'ESRCH'].includes(error.code)) return [];
    throw error;
  }
};

const linkOrUndefined = (path) => {
  try {
    return readlinkSync(path);
  } catch (error) {
    if (['ENOENT', 'EACCES', 'EPERM', 'ESRCH'].includes(error.code)) return undefined;
    throw error;
  }
};

/** Maps socket inodes to the pid holding them, by reading /proc/<pid>/fd links. */
export const findOwners = (inodes, procRoot = '/proc') => {
  const owners = new Map();
  if (inodes.size === 0) return owners;
  for (const pid of listOrEmpty(procRoot).filter((entry) => /^\d+$/.test(entry))) {
    for (const fd of listOrEmpty(`${procRoot}/${pid}/fd`)) {
      const match = /^socket:\[(\d+)\]$/.exec(linkOrUndefined(`${procRoot}/${pid}/fd/${fd}`) ?? '');
      if (match && inodes.has(match[1]) && !owners.has(match[1])) owners.set(match[1], Number(pid));
    }
    if (owners.size === inodes.size) break;
  }
  return owners;
};

/** Executable, short name and age of a process; exe falls back to comm when /proc/<pid>/exe is unreadable. */
export const processInfo = (pid, procRoot = '/proc') => {
  const exe = linkOrUndefined(`${procRoot}/${pid}/exe`)?.replace(/ \(deleted\)$/, '')
    ?? readOptional(`${procRoot}/${pid}/comm`).trim();
  const stat = readOptional(`${procRoot}/${pid}/stat`);
  const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  const uptimeSeconds = Number(readOptional(`${procRoot}/uptime`).split(' ')[0]);
  const ageMs = Number.isFinite(startTicks) && Number.isFinite(uptimeSeconds)
    ? (uptimeSeconds - startTicks / CLOCK_TICKS_PER_SECOND) * 1000
    : Infinity;
  return { exe: exe || 'unknown', name: exe ? basename(exe) : 'unknown', ageMs };
};
