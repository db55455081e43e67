// Root pino logger: JSON lines, or lines prefixed with syslog priorities under journald.
import { Writable } from 'node:stream';
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** pino numeric level -> syslog priority (sd-daemon.h `<N>` prefixes). */
export function syslogPriority(level: number): number {
  if (level >= 60) return 2; // fatal -> crit
  if (level >= 50) return 3; // error -> err
  if (level >= 40) return 4; // warn -> warning
  if (level >= 30) return 6; // info -> info
  return 7; // debug, trace -> debug
}

/** Whether stdout is connected to journald (systemd sets JOURNAL_STREAM). */
export function underJournald(env: NodeJS.ProcessEnv = process.env): boolean {
  return typeof env.JOURNAL_STREAM === 'string' && env.JOURNAL_STREAM.length > 0;
}

/**
 * A stream that prefixes each JSON line with `<priority>` so journald records the
 * priority and `journalctl -p warning` filters.
 */
export function journaldStream(out: NodeJS.WritableStream = process.stdout): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8');
      const lines = text.split('\n').filter((l) => l.length > 0);
      const prefixed = lines.map((line) => {
        const match = /"level":(\d+)/.exec(line);
        const prio = syslogPriority(match ? Number(match[1]) : 30);
        return `<${prio}>${line}\n`;
      });
      out.write(prefixed.join(''), cb);
    },
  });
}

export interface LoggerOptions {
  level?: LevelWithSilent;
  env?: NodeJS.ProcessEnv;
  destination?: NodeJS.WritableStream;
  name?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const env = options.env ?? process.env;
  const level = options.level ?? ((env.CORAL_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info');
  const base = { name: options.name ?? 'coral-agent' };
  const opts = { level, base, timestamp: pino.stdTimeFunctions.isoTime };
  if (underJournald(env)) {
    return pino(opts, journaldStream(options.destination ?? process.stdout));
  }
  if (options.destination) return pino(opts, options.destination);
  return pino(opts, pino.destination({ dest: 1, sync: true }));
}
