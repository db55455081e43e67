// Find a group's numeric id in /etc/group (no NSS: the daemon runs before any directory service matters).
import { readFile } from 'node:fs/promises';
import { isErrno } from '../errors.js';

/** The gid of `name`, or undefined when the group does not exist (or the file is missing). */
export async function lookupGroupId(name: string, groupFile = '/etc/group'): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(groupFile, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  for (const line of text.split('\n')) {
    const [groupName, , gid] = line.split(':');
    if (groupName === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}
