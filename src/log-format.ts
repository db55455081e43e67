// A log record (pino's JSON object) as one human line: the message, then key=value for the rest.

/** pino numeric level -> syslog priority (sd-daemon(3) `<N>` prefixes). */
export function syslogPriority(level: number): number {
  if (level >= 60) return 2; // fatal -> crit
  if (level >= 50) return 3; // error -> err
  if (level >= 40) return 4; // warn -> warning
  if (level >= 30) return 6; // info -> info
  return 7; // debug, trace -> debug
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Keys the line itself carries (message, level, time) or that say nothing on one host. */
const NOT_FIELDS = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname']);

export interface TextLineOptions {
  /** Start the line with the time and the level name (a terminal; the journal records both itself). */
  timeAndLevel?: boolean;
}

/** `ports +8080 (web.yaml added); Beyla generation 5 -> 6 in 6.1s component=reconcile generation=6 ...`: always one line. */
export function formatLogText(record: Record<string, unknown>, opts: TextLineOptions = {}): string {
  const parts: string[] = [];
  if (opts.timeAndLevel) {
    const time = typeof record.time === 'string' ? record.time.slice(11, 23) : '';
    const level = typeof record.level === 'number' ? LEVEL_NAMES[record.level] ?? String(record.level) : '';
    parts.push(`${time} ${level.padEnd(5)}`);
  }
  if (typeof record.msg === 'string' && record.msg !== '') parts.push(oneLine(record.msg));
  for (const [key, value] of Object.entries(record)) {
    if (NOT_FIELDS.has(key) || value === undefined) continue;
    if (key === 'err' && isErrorLike(value)) {
      parts.push(`err=${formatValue(value.message)}`);
      if (typeof value.code === 'string' && !value.message.includes(value.code)) parts.push(`err_code=${value.code}`);
      continue;
    }
    parts.push(`${key}=${formatValue(value)}`);
  }
  return parts.join(' ');
}

function isErrorLike(value: unknown): value is { message: string; code?: unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}

function oneLine(text: string): string {
  return text.replace(/\r?\n/g, '\\n');
}

/** Bare when it cannot be misread (no space, quote, `=` or backslash), JSON otherwise. */
function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"'=\\]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'number' || (typeof v === 'string' && /^[^\s"'=\\,]+$/.test(v)))) {
    return value.length === 0 ? '""' : value.join(',');
  }
  return JSON.stringify(value) ?? String(value);
}
