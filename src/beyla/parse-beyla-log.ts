// One line of Beyla's output (Go slog text, JSON, or anything else) -> level, message and fields.

export type PinoLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface BeylaLogRecord {
  level: PinoLevel;
  msg: string;
  /** Every other key=value pair, keys made safe for a log object (snake_case-ish, no collisions). */
  fields: Record<string, string>;
  /** False when the line was not logfmt/JSON and is passed on raw. */
  structured: boolean;
}

const LEVELS: Record<string, PinoLevel> = {
  TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', WARNING: 'warn', ERROR: 'error', FATAL: 'fatal', PANIC: 'fatal',
};

/** Keys that pino or our child logger already use: Beyla's copies are renamed `beyla_<key>`. */
const RESERVED = new Set(['level', 'msg', 'time', 'pid', 'hostname', 'name', 'component', 'generation', 'instance_pid']);

function levelOf(text: string | undefined): PinoLevel {
  if (text === undefined) return 'info';
  return LEVELS[text.toUpperCase().replace(/[+-]\d+$/, '')] ?? 'info';
}

function safeKey(key: string): string {
  const snake = key.trim().replace(/[^A-Za-z0-9_.]+/g, '_').replace(/\./g, '_').toLowerCase();
  return RESERVED.has(snake) ? `beyla_${snake}` : snake;
}

/** `key=value` and `key="quoted \"value\""` pairs, or null when the line is not logfmt. */
export function parseLogfmt(line: string): Record<string, string> | null {
  const out: Record<string, string> = {};
  const pair = /\s*("(?:[^"\\]|\\.)*"|[^\s="]+)=("((?:[^"\\]|\\.)*)"|[^\s]*)/y;
  let index = 0;
  let count = 0;
  while (index < line.length) {
    if (/^\s*$/.test(line.slice(index))) break;
    pair.lastIndex = index;
    const match = pair.exec(line);
    if (!match) return null;
    const [, rawKey = '', raw = '', quoted] = match;
    const key = rawKey.startsWith('"') ? unquote(rawKey) : rawKey;
    out[key] = quoted === undefined ? raw : unquote(raw);
    index = pair.lastIndex;
    count += 1;
  }
  return count > 0 ? out : null;
}

function unquote(raw: string): string {
  try {
    return JSON.parse(raw) as string;
  } catch {
    return raw.slice(1, -1).replace(/\\(.)/g, '$1'); // Go %q escapes JSON does not know (\x..): keep them readable
  }
}

function fromPairs(pairs: Record<string, unknown>): BeylaLogRecord {
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(pairs)) {
    if (key === 'level' || key === 'msg' || key === 'time') continue;
    fields[safeKey(key)] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  const msg = typeof pairs.msg === 'string' ? pairs.msg : '';
  return { level: levelOf(typeof pairs.level === 'string' ? pairs.level : undefined), msg, fields, structured: true };
}

/**
 * The level of a line that is not slog or JSON: the cloud SDK's `SDK 2026/12/01 08:00:00 WARN ...`,
 * Go's log package (`2026/12/01 08:00:00 [ERROR] ...`), and Go's own fatal forms (a panic, a
 * runtime fatal error, a flag error); anything else is info.
 */
function rawLevel(line: string): PinoLevel {
  if (/^(?:panic: |fatal error: )/.test(line)) return 'fatal';
  if (/^(?:flag provided but not defined: |invalid value ".*" for flag )/.test(line)) return 'error';
  const stamped = /^(?:[A-Z][A-Za-z]* )?\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d(?:\.\d+)? \[?([A-Za-z]+)\]?[: ]/.exec(line);
  return stamped ? LEVELS[(stamped[1] ?? '').toUpperCase()] ?? 'info' : 'info';
}

export function parseBeylaLog(line: string): BeylaLogRecord {
  const trimmed = line.trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed = JSON.parse(trimmed) as unknown;
      if (typeof parsed === 'object' && parsed !== null && 'msg' in parsed) return fromPairs(parsed as Record<string, unknown>);
    } catch {
      // not JSON after all: falls through to logfmt, then raw
    }
  }
  const pairs = parseLogfmt(trimmed);
  if (pairs && 'msg' in pairs && 'level' in pairs) return fromPairs(pairs);
  return { level: rawLevel(trimmed), msg: trimmed, fields: {}, structured: false };
}
