// Make a unix socket path ready to listen on: parent dir present, a stale socket removed, a live one refused.
import net from 'node:net';
import { lstat, mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { CoralError, isErrno } from '../errors.js';
import type { Logger } from '../log.js';

/** Whether something accepts a connection on the socket at `socketPath`. */
function somebodyAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: socketPath });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (error) => {
      socket.destroy();
      if (isErrno(error, 'ECONNREFUSED') || isErrno(error, 'ENOENT')) resolve(false);
      else reject(error);
    });
  });
}

export async function prepareSocketPath(socketPath: string, logger: Logger): Promise<void> {
  const cantCreate = (message: string, cause?: unknown, hint?: string): CoralError =>
    new CoralError('CANT_CREATE', message, { cause, hint, details: { path: socketPath } });
  try {
    await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  } catch (error) {
    throw cantCreate(`cannot create the directory of the control socket ${socketPath}`, error);
  }
  let isSocket: boolean;
  try {
    isSocket = (await lstat(socketPath)).isSocket();
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return;
    throw cantCreate(`cannot inspect the control socket path ${socketPath}`, error);
  }
  if (!isSocket) {
    throw cantCreate(`control socket path ${socketPath} exists and is not a socket`, undefined,
      'remove that file or set agent.control.socket to another path');
  }
  let live: boolean;
  try {
    live = await somebodyAnswers(socketPath);
  } catch (error) {
    throw cantCreate(`cannot probe the existing control socket ${socketPath}`, error);
  }
  if (live) {
    throw cantCreate(`another process is already serving the control socket ${socketPath}`, undefined,
      'is coral-agent already running? (systemctl status coral-agent)');
  }
  logger.info({ path: socketPath }, 'removing stale control socket');
  try {
    await unlink(socketPath);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw cantCreate(`cannot remove the stale control socket ${socketPath}`, error);
  }
}
