// `coral-agent run`: start the daemon, handle signals (SIGHUP reload, SIGTERM/SIGINT stop), exit with a sysexits code.
import { CONFIG_OPTIONS, parse, SETTING_FLAGS, SETTING_FLAGS_HELP, settingFlags } from '../cli/args.js';
import type { Io } from '../cli/io.js';
import { EXIT } from '../errors.js';
import { createLogger } from '../log.js';
import { startDaemon, type Daemon } from './daemon.js';

export const RUN_USAGE = `Usage: coral-agent run [--config PATH] [--log-level LEVEL] [--metrics-listen HOST:PORT]
                       [--control-socket PATH] [--beyla-binary PATH] [--services-dir DIR]

Run the daemon in the foreground (systemd starts it this way). It watches coral.yaml and the
drop-in directory, and keeps Beyla instrumenting exactly the configured ports.
Signals: SIGHUP re-reads the configuration at once; SIGTERM or SIGINT stop it gracefully.
Logs go to stdout: under journald one line per event (the message, then key=value) with its
syslog priority, elsewhere JSON lines; CORAL_LOG_FORMAT=json or text chooses (default: auto).

Options:
  -c, --config PATH   main file (default: $CORAL_CONFIG, else /etc/coral/coral.yaml)
      --strict        refuse to start on an invalid coral.yaml (exit 65) even when a last good
                      configuration is saved in $STATE_DIRECTORY (by default the agent then runs
                      on it, degraded: logged, in STATUS=, coral status and coral_agent_degraded)
  -h, --help          show this help

${SETTING_FLAGS_HELP}

Exit codes: 0 stopped by a signal, 65 coral.yaml invalid (with --strict, or nothing saved),
66 coral.yaml missing,
73 cannot listen (metrics address or control socket), 75 start-up timed out.`;

export async function runDaemonCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, { ...CONFIG_OPTIONS, ...SETTING_FLAGS, strict: { type: 'boolean' } }, RUN_USAGE, { maxPositionals: 0 });
  if (values.help) {
    io.out(RUN_USAGE);
    return EXIT.OK;
  }
  const env = io.env as NodeJS.ProcessEnv;
  const logger = createLogger({ env });
  // Signals are handled from the first moment: a SIGTERM during start-up stops cleanly (exit 0,
  // STOPPING=1), and a SIGHUP during start-up is applied as soon as the agent is ready.
  const startup = new AbortController();
  let daemon: Daemon | undefined;
  let stopSignal: string | undefined;
  let reloadPending = false;
  let resolveStopped: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((resolve) => { resolveStopped = resolve; });
  const stop = (signal: string): void => {
    if (stopSignal) return;
    stopSignal = signal;
    if (!daemon) {
      logger.info({ signal }, 'stop requested during start-up');
      startup.abort();
      return;
    }
    daemon.stop(signal).then(() => resolveStopped(EXIT.OK), (error: unknown) => {
      logger.error({ err: error }, 'shutdown failed');
      resolveStopped(EXIT.SOFTWARE);
    });
  };
  const reload = (): void => {
    if (!daemon) {
      logger.info('SIGHUP during start-up: reloading once ready');
      reloadPending = true;
      return;
    }
    logger.info('SIGHUP: reloading now');
    daemon.reload().catch((error: unknown) => logger.error({ err: error }, 'reload failed'));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', reload);
  const wedge = env.CORAL_TEST_WEDGE_SIGNAL;
  if (wedge) {
    // Test-only: block the event loop forever, so the systemd watchdog must act.
    process.on(wedge as NodeJS.Signals, () => {
      logger.warn({ signal: wedge }, 'test wedge signal: blocking the event loop');
      const until = Number.POSITIVE_INFINITY;
      while (Date.now() < until) { /* wedged on purpose */ }
    });
  }

  try {
    daemon = await startDaemon({ configPath: values.config as string | undefined, env, flags: settingFlags(values), logger, signal: startup.signal, strict: values.strict === true });
  } catch (error) {
    if (startup.signal.aborted) {
      logger.info({ signal: stopSignal }, 'stopped during start-up');
      return EXIT.OK;
    }
    throw error;
  }
  if (reloadPending) reload();
  const code = await stopped;
  // Everything was stopped in order; should a handle still hold the event loop (a library's
  // exit hook, a socket), exit anyway rather than hang until systemd's stop timeout.
  setTimeout(() => {
    // Named so that a handle left open is found, not just outwaited (the timer itself is one of them).
    logger.warn({ resources: process.getActiveResourcesInfo() }, 'exiting with handles still open after the shutdown');
    process.exit(code);
  }, EXIT_GRACE_MS).unref();
  return code;
}

/** How long the process may take to exit by itself after an ordered shutdown. */
const EXIT_GRACE_MS = 2000;
