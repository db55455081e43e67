// Resolve agent.beyla.binary (an absolute path, or a bare name searched on PATH) to an executable file.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { CoralError, isErrno } from '../errors.js';

export const INSTALL_HINT = 'install Grafana Beyla (https://github.com/grafana/beyla/releases) and set agent.beyla.binary';

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    if (!info.isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT') || isErrno(error, 'EACCES') || isErrno(error, 'ENOTDIR') || isErrno(error, 'ELOOP')) return false;
    throw error;
  }
}

/**
 * The absolute path of the Beyla binary. Throws CoralError('BEYLA_UNAVAILABLE') naming what was
 * looked for and where, with the install hint.
 */
export async function findBeylaBinary(binary: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (binary.includes('/')) {
    const path = isAbsolute(binary) ? binary : resolve(binary);
    if (await isExecutableFile(path)) return path;
    throw new CoralError('BEYLA_UNAVAILABLE', `Beyla binary ${path} is missing or not executable`, {
      hint: INSTALL_HINT,
      details: { binary: path },
    });
  }
  const dirs = (env.PATH ?? '').split(delimiter).filter((dir) => dir !== '');
  for (const dir of dirs) {
    const path = join(dir, binary);
    if (await isExecutableFile(path)) return path;
  }
  throw new CoralError('BEYLA_UNAVAILABLE', `Beyla binary '${binary}' not found on PATH (${dirs.join(delimiter) || 'empty'})`, {
    hint: INSTALL_HINT,
    details: { binary, path: env.PATH ?? '' },
  });
}
