// How sd_notify datagrams leave the process: libsystemd through the sd-notify addon, or `systemd-notify --pid`.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Logger } from '../log.js';

export interface NotifyTransport {
  readonly name: 'native' | 'systemd-notify';
  /** Queue one datagram (`KEY=VALUE` lines). Never throws; failures are logged. */
  send(text: string): void;
  /** Resolves once everything queued so far has been handed to the socket. */
  flush(): Promise<void>;
}

export interface NotifyTransportOptions {
  /** The NOTIFY_SOCKET the notifier was configured with (non-empty). */
  socket: string;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Skip the addon (tests of the fallback). */
  prefer?: 'native' | 'systemd-notify';
}

/** The part of the `sd-notify` addon we use: sd_notify(0, state) from the calling (main) process. */
interface SdNotifyAddon {
  sendState(state: string): void;
}

function loadAddon(): SdNotifyAddon {
  const require = createRequire(import.meta.url);
  const addon = require('sd-notify') as Partial<SdNotifyAddon>;
  if (typeof addon.sendState !== 'function') throw new Error('sd-notify has no sendState()');
  return addon as SdNotifyAddon;
}

function findOnPath(binary: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    if (!dir) continue;
    const candidate = path.join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this PATH entry; keep looking
    }
  }
  return undefined;
}

function nativeTransport(addon: SdNotifyAddon, logger: Logger): NotifyTransport {
  return {
    name: 'native',
    send(text) {
      try {
        // sd_notify() sends from this process, so systemd sees the main PID (NotifyAccess=main).
        addon.sendState(text);
      } catch (error) {
        logger.warn({ err: error }, 'sd_notify failed');
      }
    },
    flush: () => Promise.resolve(),
  };
}

function systemdNotifyTransport(binary: string, socket: string, logger: Logger): NotifyTransport {
  let queue = Promise.resolve();
  return {
    name: 'systemd-notify',
    send(text) {
      // --pid names us as the sender so NotifyAccess=main accepts it (needs root or CAP_SYS_ADMIN;
      // otherwise libsystemd falls back to the helper's own pid and only NotifyAccess=all accepts it).
      const args = [`--pid=${process.pid}`, ...text.split('\n').filter((line) => line.length > 0)];
      queue = queue.then(() => new Promise<void>((resolve) => {
        execFile(binary, args, { env: { ...process.env, NOTIFY_SOCKET: socket }, timeout: 5000 }, (error) => {
          if (error) logger.warn({ err: error, binary }, 'systemd-notify failed');
          resolve();
        });
      }));
    },
    flush: () => queue,
  };
}

/** Picks a transport, or undefined (with a warning saying why) when none can work. */
export function createNotifyTransport(opts: NotifyTransportOptions): NotifyTransport | undefined {
  // libsystemd reads NOTIFY_SOCKET from the real process environment, not from `opts.env`.
  const sameSocket = process.env.NOTIFY_SOCKET === opts.socket;
  let addonError: unknown;
  if (opts.prefer !== 'systemd-notify' && sameSocket) {
    try {
      return nativeTransport(loadAddon(), opts.logger);
    } catch (error) {
      addonError = error;
    }
  }
  const binary = findOnPath('systemd-notify', opts.env);
  const why = addonError !== undefined ? 'the sd-notify addon failed to load'
    : !sameSocket ? 'NOTIFY_SOCKET differs from the process environment that libsystemd reads'
      : 'systemd-notify was requested';
  if (binary) {
    opts.logger.warn({ err: addonError, binary, reason: why }, 'sending systemd notifications with systemd-notify');
    return systemdNotifyTransport(binary, opts.socket, opts.logger);
  }
  opts.logger.warn(
    { err: addonError, reason: why },
    'cannot send systemd notifications: no usable sd-notify addon and no systemd-notify binary; READY/WATCHDOG will not reach systemd',
  );
  return undefined;
}
