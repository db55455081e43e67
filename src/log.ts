// Root pino logger: human lines with syslog priorities under journald, JSON lines elsewhere or when asked (CORAL_LOG_FORMAT).
import { fstatSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { formatLogText, syslogPriority } from './log-format.js';

export type { Logger } from 'pino';
export { syslogPriority } from './log-format.js';

export type LogFormat = 'json' | 'text';

/** Where stdout goes: journald's stream socket, a terminal, or anything else (a pipe, a file). */
export interface StdoutKind {
  journal: boolean;
  tty: boolean;
}

/**
 * Whether fd 1 is the journal stream systemd set up: JOURNAL_STREAM holds its `device:inode`
 * (systemd.exec(5)); a redirected stdout inherits the variable but not the inode.
 */
export function stdoutKind(env: NodeJS.ProcessEnv = process.env, fd = 1): StdoutKind {
  let journal = false;
  const stream = env.JOURNAL_STREAM;
  if (stream) {
    try {
      const stat = fstatSync(fd, { bigint: true });
      journal = stream === `${stat.dev}:${stat.ino}`;
    } catch {
      journal = false;
    }
  }
  return { journal, tty: !journal && process.stdout.isTTY === true && fd === 1 };
}

/** CORAL_LOG_FORMAT: json, text, or auto (unset): text under journald and on a terminal, JSON otherwise. */
export function chooseLogFormat(env: NodeJS.ProcessEnv, kind: StdoutKind): { format: LogFormat; invalid?: string } {
  const asked = env.CORAL_LOG_FORMAT?.trim().toLowerCase();
  if (asked === 'json' || asked === 'text') return { format: asked };
  const format: LogFormat = kind.journal || kind.tty ? 'text' : 'json';
  if (asked === undefined || asked === '' || asked === 'auto') return { format };
  return { format, invalid: env.CORAL_LOG_FORMAT };
}

/**
 * Turns pino's JSON lines into what the reader wants: under journald each line starts with
 * `<priority>` (sd-daemon(3)) so `journalctl -p` filters and `-o verbose` shows PRIORITY=.
 */
export function logLineStream(opts: { format: LogFormat; journal: boolean; out?: NodeJS.WritableStream }): Writable {
  const out = opts.out ?? process.stdout;
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      const written = lines.filter((l) => l.length > 0).map((line) => {
        let record: Record<string, unknown> | undefined;
        try {
          record = JSON.parse(line) as Record<string, unknown>;
        } catch {
          record = undefined;
        }
        const level = typeof record?.level === 'number' ? record.level : 30;
        const body = opts.format === 'text' && record ? formatLogText(record, { timeAndLevel: !opts.journal }) : line;
        return `${opts.journal ? `<${syslogPriority(level)}>` : ''}${body}\n`;
      });
      if (written.length === 0) cb();
      else out.write(written.join(''), cb);
    },
  });
}

export interface LoggerOptions {
  level?: LevelWithSilent;
  env?: NodeJS.ProcessEnv;
  /** Write here instead of stdout (then the format is JSON unless CORAL_LOG_FORMAT says text). */
  destination?: NodeJS.WritableStream;
  /** What stdout is (default: looked up for fd 1; with a destination: neither journal nor terminal). */
  stdout?: StdoutKind;
  name?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const env = options.env ?? process.env;
  const level = options.level ?? ((env.CORAL_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info');
  const base = { name: options.name ?? 'coral-agent' };
  const opts = { level, base, timestamp: pino.stdTimeFunctions.isoTime };
  const kind = options.stdout ?? (options.destination ? { journal: false, tty: false } : stdoutKind(env));
  const { format, invalid } = chooseLogFormat(env, kind);
  let logger: Logger;
  if (format === 'json' && !kind.journal) {
    logger = options.destination ? pino(opts, options.destination) : pino(opts, pino.destination({ dest: 1, sync: true }));
  } else {
    logger = pino(opts, logLineStream({ format, journal: kind.journal, out: options.destination }));
  }
  if (invalid !== undefined) logger.warn({ value: invalid }, `CORAL_LOG_FORMAT is not json, text or auto: writing ${format}`);
  return logger;
}
