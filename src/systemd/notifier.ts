// Tells systemd about readiness, reloads, shutdown, status and liveness; a no-op when not under systemd.
import type { Logger } from '../log.js';
import { createNotifyTransport, type NotifyTransport } from './notify-transport.js';

export interface Notifier {
  /** NOTIFY_SOCKET is set and a transport is available. */
  readonly enabled: boolean;
  /** WATCHDOG_USEC is set (and WATCHDOG_PID, if set, is this process). */
  readonly watchdogEnabled: boolean;
  /** Ping period: half of WATCHDOG_USEC; 0 when the watchdog is off. */
  readonly watchdogIntervalMs: number;
  /** READY=1 (+ STATUS=). */
  ready(status?: string): void;
  /** RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC µs>, as Type=notify-reload requires. */
  reloading(): void;
  /** READY=1 (+ STATUS=) after a reload. */
  readyAfterReload(status?: string): void;
  /** STOPPING=1 (+ STATUS=). */
  stopping(status?: string): void;
  /** STATUS=<one line>. */
  status(text: string): void;
  /** EXTEND_TIMEOUT_USEC: ask for more time in the current start/stop/reload phase. */
  extendTimeout(ms: number): void;
  /** Pings WATCHDOG=1 every watchdogIntervalMs from an event-loop timer until `signal` aborts. */
  startWatchdog(signal: AbortSignal): void;
  /** Resolves once every notification so far has been handed to the socket. */
  flush(): Promise<void>;
}

export interface CreateNotifierOptions {
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  /** Force the `systemd-notify` fallback (tests); default: the sd-notify addon. */
  prefer?: 'native' | 'systemd-notify';
}

/** CLOCK_MONOTONIC in µs: on Linux, process.hrtime is CLOCK_MONOTONIC (libuv uv_hrtime). */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/** A STATUS= value is one line: a newline would start a new assignment (e.g. a forged READY=1). */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').trim();
}

function watchdogUsec(env: NodeJS.ProcessEnv): number {
  const usec = Number(env.WATCHDOG_USEC ?? '');
  if (!Number.isSafeInteger(usec) || usec <= 0) return 0;
  const pid = env.WATCHDOG_PID;
  if (pid !== undefined && pid !== '' && Number(pid) !== process.pid) return 0;
  return usec;
}

export function createNotifier(opts: CreateNotifierOptions): Notifier {
  const env = opts.env ?? process.env;
  const logger = opts.logger.child({ component: 'systemd' });
  const socket = env.NOTIFY_SOCKET ?? '';
  const transport: NotifyTransport | undefined = socket
    ? createNotifyTransport({ socket, env, logger, prefer: opts.prefer })
    : undefined;
  const enabled = transport !== undefined;
  const usec = enabled ? watchdogUsec(env) : 0;
  const watchdogIntervalMs = usec > 0 ? Math.max(1, Math.floor(usec / 2000)) : 0;
  let watchdogTimer: NodeJS.Timeout | undefined;

  const send = (fields: Array<[string, string]>): void => {
    if (!transport) return;
    const text = fields.map(([key, value]) => `${key}=${value}`).join('\n');
    if (fields[0]?.[0] === 'WATCHDOG') logger.trace({ notify: text }, 'sd_notify');
    else logger.debug({ notify: text }, 'sd_notify');
    transport.send(text);
  };
  const withStatus = (fields: Array<[string, string]>, status?: string): Array<[string, string]> =>
    status === undefined ? fields : [...fields, ['STATUS', oneLine(status)]];

  if (socket) logger.debug({ transport: transport?.name, watchdog_interval_ms: watchdogIntervalMs }, 'systemd notifier');

  return {
    enabled,
    watchdogEnabled: usec > 0,
    watchdogIntervalMs,
    ready: (status) => send(withStatus([['READY', '1']], status)),
    reloading: () => send([['RELOADING', '1'], ['MONOTONIC_USEC', monotonicUsec().toString()]]),
    readyAfterReload: (status) => send(withStatus([['READY', '1']], status)),
    stopping: (status) => send(withStatus([['STOPPING', '1']], status)),
    status: (text) => send([['STATUS', oneLine(text)]]),
    extendTimeout: (ms) => send([['EXTEND_TIMEOUT_USEC', String(Math.max(0, Math.round(ms * 1000)))]]),
    startWatchdog(signal) {
      if (watchdogIntervalMs === 0 || watchdogTimer || signal.aborted) return;
      const ping = (): void => send([['WATCHDOG', '1']]);
      ping();
      // A plain timer on purpose: if the event loop wedges, the pings stop and systemd restarts us.
      watchdogTimer = setInterval(ping, watchdogIntervalMs);
      signal.addEventListener('abort', () => {
        clearInterval(watchdogTimer);
        watchdogTimer = undefined;
      }, { once: true });
      logger.info({ watchdog_interval_ms: watchdogIntervalMs }, 'systemd watchdog pings started');
    },
    flush: () => transport?.flush() ?? Promise.resolve(),
  };
}
