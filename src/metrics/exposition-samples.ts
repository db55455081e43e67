// Reads the sample lines of a Prometheus or OpenMetrics text exposition: series key, value and where the value sits.

/** One sample line, enough to rewrite its value in place. */
export interface SampleLine {
  /** Metric name as written (e.g. `http_server_request_duration_seconds_bucket`). */
  name: string;
  /** Name plus the label pairs sorted by label name: equal for the same series whatever the label order. */
  key: string;
  /** Parsed value: NaN, +Inf and -Inf included. */
  value: number;
  /** The value token is `line.slice(valueStart, valueEnd)`. */
  valueStart: number;
  valueEnd: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** Prometheus' float syntax, plus Go's spellings of the specials. */
function parseValue(token: string): number | undefined {
  if (/^[+-]?inf$/i.test(token)) return token.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(token)) return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(token) && !/^[+-]?0x[0-9a-fA-F]+$/.test(token)) return undefined;
  const value = Number(token);
  return Number.isNaN(value) ? undefined : value;
}

/**
 * Label pairs from `{` at `start`: each `name="value"` (value escapes `\\`, `\"`, `\n` kept as
 * written), and the index just past `}`. undefined when the set is malformed.
 */
function parseLabels(line: string, start: number): { pairs: string[]; end: number } | undefined {
  const pairs: string[] = [];
  let i = start + 1;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i += 1;
    if (line[i] === '}') return { pairs, end: i + 1 };
    const name = LABEL_NAME.exec(line.slice(i))?.[0];
    if (!name) return undefined;
    i += name.length;
    while (line[i] === ' ' || line[i] === '\t') i += 1;
    if (line[i] !== '=') return undefined;
    i += 1;
    while (line[i] === ' ' || line[i] === '\t') i += 1;
    if (line[i] !== '"') return undefined;
    const valueStart = i;
    i += 1;
    while (i < line.length && line[i] !== '"') i += line[i] === '\\' ? 2 : 1;
    if (i >= line.length) return undefined;
    i += 1;
    pairs.push(`${name}=${line.slice(valueStart, i)}`);
    while (line[i] === ' ' || line[i] === '\t') i += 1;
    if (line[i] === ',') i += 1;
    else if (line[i] !== '}') return undefined;
  }
}

/** A sample line's series and value, or undefined for comments, blank lines and lines it cannot read. */
export function parseSampleLine(line: string): SampleLine | undefined {
  const name = NAME.exec(line)?.[0];
  if (!name) return undefined;
  let i = name.length;
  let pairs: string[] = [];
  if (line[i] === '{') {
    const labels = parseLabels(line, i);
    if (!labels) return undefined;
    pairs = labels.pairs;
    i = labels.end;
  }
  if (line[i] !== ' ' && line[i] !== '\t') return undefined;
  while (line[i] === ' ' || line[i] === '\t') i += 1;
  const valueStart = i;
  while (i < line.length && line[i] !== ' ' && line[i] !== '\t') i += 1;
  const value = parseValue(line.slice(valueStart, i));
  if (value === undefined) return undefined;
  pairs.sort();
  return { name, key: `${name}{${pairs.join(',')}}`, value, valueStart, valueEnd: i };
}

export type FamilyType = 'counter' | 'gauge' | 'histogram' | 'gaugehistogram' | 'summary' | 'untyped' | 'unknown' | 'info' | 'stateset';

/** The family name and type declared by a `# TYPE` line. */
export function parseTypeLine(line: string): { family: string; type: FamilyType } | undefined {
  const match = /^#\s+TYPE\s+(\S+)\s+(\S+)/.exec(line);
  if (!match?.[1] || !match[2]) return undefined;
  return { family: match[1], type: match[2].toLowerCase() as FamilyType };
}

/**
 * Whether a sample only ever grows while its exporter lives: a counter's value (`name`, or
 * `name_total` in OpenMetrics), a histogram's `_bucket`/`_sum`/`_count`, a summary's `_sum`/`_count`.
 * Gauges, quantiles, `_created`, gauge histograms and untyped samples are not.
 */
export function isCumulativeSample(sampleName: string, types: ReadonlyMap<string, FamilyType>): boolean {
  const own = types.get(sampleName);
  if (own !== undefined) return own === 'counter';
  const suffix = /_(total|bucket|sum|count)$/.exec(sampleName)?.[1];
  if (!suffix) return false;
  const family = types.get(sampleName.slice(0, -(suffix.length + 1)));
  if (family === 'counter') return suffix === 'total';
  if (family === 'histogram') return suffix !== 'total';
  if (family === 'summary') return suffix === 'sum' || suffix === 'count';
  return false;
}
