// `coral-agent run`: start the daemon, handle signals (SIGHUP reload, SIGTERM/SIGINT stop), exit with a sysexits code.
import { CONFIG_OPTIONS, parse, SETTING_FLAGS, settingFlags } from '../cli/args.js';
import type { Io } from '../cli/io.js';
import { EXIT } from '../errors.js';
import { createLogger } from '../log.js';
import { startDaemon } from './daemon.js';

export const RUN_USAGE = `Usage: coral-agent run [--config PATH] [--log-level LEVEL] [--metrics-listen HOST:PORT]
                       [--control-socket PATH] [--beyla-binary PATH] [--services-dir DIR]

Run the daemon in the foreground (systemd starts it this way). It watches coral.yaml and the
drop-in directory, and keeps Beyla instrumenting exactly the configured ports.
Signals: SIGHUP re-reads the configuration at once; SIGTERM or SIGINT stop it gracefully.
Logs go to stdout: JSON lines, with syslog priorities under journald.

Exit codes: 0 stopped by a signal, 65 coral.yaml invalid, 66 coral.yaml missing,
73 cannot listen (metrics address or control socket), 75 start-up timed out.`;

export async function runDaemonCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, { ...CONFIG_OPTIONS, ...SETTING_FLAGS }, RUN_USAGE);
  if (values.help) {
    io.out(RUN_USAGE);
    return EXIT.OK;
  }
  const env = io.env as NodeJS.ProcessEnv;
  const logger = createLogger({ env });
  const daemon = await startDaemon({ configPath: values.config as string | undefined, env, flags: settingFlags(values), logger });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      daemon.stop(signal).then(() => resolve(EXIT.OK), (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        resolve(EXIT.SOFTWARE);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      logger.info('SIGHUP: reloading now');
      daemon.reload().catch((error: unknown) => logger.error({ err: error }, 'reload failed'));
    });
    const wedge = env.CORAL_TEST_WEDGE_SIGNAL;
    if (wedge) {
      // Test-only: block the event loop forever, so the systemd watchdog must act.
      process.on(wedge as NodeJS.Signals, () => {
        logger.warn({ signal: wedge }, 'test wedge signal: blocking the event loop');
        const until = Number.POSITIVE_INFINITY;
        while (Date.now() < until) { /* wedged on purpose */ }
      });
    }
  });
}
