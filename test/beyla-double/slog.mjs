// Writes log records to stdout in Go slog's text form, the way Beyla prints them.

const needsQuoting = (text) => text === '' || /[\s="\\]|[^\x21-\x7e]/u.test(text);

const formatValue = (value) => {
  const text = value instanceof Error ? value.message : String(value);
  return needsQuoting(text) ? JSON.stringify(text) : text;
};

/** One slog text line: `time=... level=INFO msg="..." key=value ...`. */
export const formatRecord = ({ level, msg, attrs = {}, now = new Date() }) => {
  const parts = [`time=${now.toISOString()}`, `level=${level}`, `msg=${formatValue(msg)}`];
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined) parts.push(`${formatValue(key)}=${formatValue(value)}`);
  }
  return parts.join(' ');
};

/** A logger bound to a writable stream; `raw` prints a line that is not slog (as Beyla's SDKs do). */
export const slog = (stream = process.stdout) => {
  const write = (level) => (msg, attrs) => stream.write(`${formatRecord({ level, msg, attrs })}\n`);
  return {
    info: write('INFO'),
    warn: write('WARN'),
    error: write('ERROR'),
    debug: write('DEBUG'),
    raw: (line) => stream.write(`${line}\n`),
  };
};
