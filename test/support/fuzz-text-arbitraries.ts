// Hostile drop-in bytes for the fuzz tests: noise, mutated YAML, blank files, deep nesting, anchors and alias bombs.
import fc from 'fast-check';

const encoder = new TextEncoder();
export const utf8 = (text: string): Uint8Array => encoder.encode(text);

/** Hand-written drop-ins that parseDropIn accepts: the seeds the mutations start from. */
export const VALID_DROP_INS: readonly string[] = [
  'name: web\nport: 8080\n',
  'name: api\nports: [9000, "9100-9110"]\nexe: "*gunicorn*"\nhealth: http:/healthz\ntype: http\n',
  '# the payment services\nservices:\n  - name: pay\n    port: 7000\n    health: none\n  - name: pay-worker\n    ports:\n      - 7001\n      - "7100-7199"\n    health:\n      check: http\n      path: /ready\n      interval: 5s\n      timeout: 500ms\n',
  '{name: db, port: 5432, type: sql, health: {check: tcp, interval: 1m30s}}\n',
  'services: [{name: a, port: 1}, {name: b, ports: ["2-3", 65535]}]\n',
  '\ufeffname: cache\r\nport: 6379\r\ntype: redis\r\n',
  '%YAML 1.2\n---\nname: &n queue\nports: &p [5672]\nexe: \'/usr/lib/rabbitmq/*\'\n...\n',
];

/** Hand-written coral.yaml files that parseMainConfig accepts. */
export const VALID_MAIN_CONFIGS: readonly string[] = [
  'agent: {}\n',
  'agent:\n  log_level: debug\n  services_dir: /etc/coral/services.d\n  health:\n    interval: 5s\n    timeout: 1s\n    unhealthy_threshold: 2\n',
  'agent:\n  beyla:\n    when_empty: all\n    debounce: 2s\n    max_wait: 1m\n    readiness: {timeout: 20s, min_uptime: 500ms, require_instrumented: true}\n    config:\n      otel_metrics_export: {endpoint: "http://127.0.0.1:4318"}\n    env: {OTEL_SERVICE_NAME: host}\n  services:\n    - name: web\n      port: 8080\n    - name: jobs\n      ports: ["9000-9010"]\n      exe: "*celery*"\n',
  'agent:\n  metrics: {listen: "127.0.0.1:9464"}\n  control: {socket: /run/coral-agent/control.sock}\n  startup_timeout: 1m30s\n  resync_interval: 3m\n',
];

/** CORAL_* variables as an operator might set them, well or badly. */
export const coralEnv = fc.dictionary(
  fc.constantFrom('CORAL_SERVICES_DIR', 'CORAL_LOG_LEVEL', 'CORAL_STARTUP_TIMEOUT', 'CORAL_BEYLA_ENABLED', 'CORAL_BEYLA_DEBOUNCE', 'CORAL_BEYLA_WHEN_EMPTY', 'CORAL_HEALTH_TIMEOUT', 'CORAL_METRICS_LISTEN', 'CORAL_BEYLA_BINARY'),
  fc.oneof(fc.constantFrom('', '5s', '250ms', 'soon', 'true', 'no', 'maybe', 'all', 'stop', 'debug', 'LOUD', '/srv/coral', 'rel/dir', '0', '1m30s'), fc.string({ maxLength: 12 })),
  { maxKeys: 4 },
);

/** Characters YAML gives meaning to, and a few it forbids. */
const YAML_ALPHABET = [...' \n\r\t:-[]{},&*!|>\'"#%@`?<=~\\.', ...'abnsp0189', '\u0000', '\u00a0', '\ufeff', '\u2028', 'é', '😀'];

export const yamlishText = fc.string({ unit: fc.constantFrom(...YAML_ALPHABET), maxLength: 120 });

/** Byte sequences a UTF-8 reader must refuse: overlong, surrogates, beyond U+10FFFF, truncated, stray continuation. */
const BAD_UTF8: readonly number[][] = [[0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80], [0xff], [0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98]];

type Mutation =
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; length: number }
  | { op: 'flip'; at: number; bit: number }
  | { op: 'duplicate-line'; at: number }
  | { op: 'swap-lines'; at: number; with: number };

const insertion = fc.oneof(
  yamlishText.map(utf8),
  fc.uint8Array({ minLength: 1, maxLength: 4 }),
  fc.constantFrom(...BAD_UTF8).map((b) => Uint8Array.from(b)),
  fc.constantFrom('&a ', '*a', '*zz', '<<: ', '!!str ', '!!binary ', '? ', '- ', '  ', '\t', '\n---\n', '\n...\n', '|\n', '>-\n', '"\\u00', '\\').map(utf8),
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: insertion }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 12 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicate-line' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('swap-lines' as const), at: fc.nat(), with: fc.nat() }) },
);

function splitLines(bytes: Uint8Array): Uint8Array[] {
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0a) { lines.push(bytes.subarray(start, i + 1)); start = i + 1; }
  }
  lines.push(bytes.subarray(start));
  return lines;
}

const concat = (parts: readonly Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

function applyMutation(bytes: Uint8Array, m: Mutation): Uint8Array {
  const n = bytes.length;
  switch (m.op) {
    case 'insert': {
      const at = m.at % (n + 1);
      return concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
    }
    case 'delete': {
      if (n === 0) return bytes;
      const at = m.at % n;
      return concat([bytes.subarray(0, at), bytes.subarray(at + m.length)]);
    }
    case 'flip': {
      if (n === 0) return bytes;
      const out = Uint8Array.from(bytes);
      const at = m.at % n;
      out[at] = (out[at] ?? 0) ^ (1 << m.bit);
      return out;
    }
    case 'duplicate-line': {
      const lines = splitLines(bytes);
      const at = m.at % lines.length;
      return concat([...lines.slice(0, at + 1), lines[at] ?? new Uint8Array(), ...lines.slice(at + 1)]);
    }
    case 'swap-lines': {
      const lines = splitLines(bytes);
      const a = m.at % lines.length;
      const b = m.with % lines.length;
      const swapped = [...lines];
      [swapped[a], swapped[b]] = [lines[b] ?? new Uint8Array(), lines[a] ?? new Uint8Array()];
      return concat(swapped);
    }
  }
}

/** A valid drop-in (hand-written, or any `seeds` text) after one to eight random edits. */
export function mutatedDropIn(seeds: fc.Arbitrary<string>): fc.Arbitrary<Uint8Array> {
  const seed = fc.oneof(fc.constantFrom(...VALID_DROP_INS), seeds);
  return fc.tuple(seed, fc.array(mutation, { minLength: 1, maxLength: 8 }))
    .map(([text, edits]) => edits.reduce(applyMutation, utf8(text)));
}

/** Text of every sort, as UTF-8: printable, any code point, lone surrogates (written as U+FFFD by the encoder). */
export const unicodeText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  yamlishText,
).map(utf8);

/** Raw bytes, sometimes with a broken UTF-8 sequence spliced into otherwise good text. */
export const rawBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.tuple(fc.constantFrom(...VALID_DROP_INS), fc.nat(), fc.constantFrom(...BAD_UTF8)).map(([text, at, bad]) => {
    const bytes = utf8(text);
    const i = at % (bytes.length + 1);
    return concat([bytes.subarray(0, i), Uint8Array.from(bad), bytes.subarray(i)]);
  }),
);

/** Files a person would call empty: blank lines, spaces, tabs, comments, CRLF, a BOM. */
export const blankFile = fc.tuple(
  fc.boolean(),
  fc.array(fc.constantFrom('', ' ', '    ', '\t', '# a comment', '#', '   # indented: comment', '#name: web', '# port: 80 \u00e9'), { maxLength: 8 }),
  fc.constantFrom('\n', '\r\n'),
  fc.boolean(),
).map(([bom, lines, eol, trailing]) => utf8(`${bom ? '\ufeff' : ''}${lines.join(eol)}${trailing ? eol : ''}`));

/** Deeply nested flow or block collections, closed or not, alone or under a service key. */
export const deepNesting = fc.record({
  shape: fc.constantFrom('seq', 'map', 'mixed', 'block-seq', 'block-map'),
  depth: fc.integer({ min: 2, max: 1200 }),
  closed: fc.boolean(),
  host: fc.constantFrom('whole', 'name', 'ports', 'health'),
}).map(({ shape, depth, closed, host }) => {
  let body: string;
  if (shape === 'block-seq' || shape === 'block-map') {
    const d = Math.min(depth, 400); // block nesting grows the text with the square of the depth
    body = Array.from({ length: d }, (_, i) => `${' '.repeat(i * 2)}${shape === 'block-seq' ? '-' : 'k:'}`).join('\n').trimStart();
    body = `\n  ${body.replace(/\n/g, '\n  ')}`;
  } else {
    const open = Array.from({ length: depth }, (_, i) => (shape === 'seq' || (shape === 'mixed' && i % 2 === 0) ? '[' : '{a: ')).join('');
    const close = closed ? [...open.replace(/\{a: /g, '{')].reverse().map((c) => (c === '[' ? ']' : '}')).join('') : '';
    body = `${open}1${close}`;
  }
  if (host === 'whole') return utf8(body.trimStart());
  return utf8(host === 'name' ? `name: ${body}\nport: 80\n` : `name: web\n${host === 'ports' ? 'ports' : 'port: 80\nhealth'}: ${body}\n`);
});

// ---- anchors and aliases ----

interface AliasField {
  key: 'name' | 'port' | 'health' | 'exe';
  /** A literal (optionally anchored), or an alias to anchor `alias`. */
  literal?: string;
  anchor?: number;
  alias?: number;
}

const LITERALS: Record<AliasField['key'], readonly string[]> = {
  name: ['web', 'api', 'db'],
  port: ['8080', '8081', '8082'],
  health: ['tcp', 'none', '{check: http, path: /x}', '{check: tcp, interval: 1s, timeout: 2s}'],
  exe: ['"*java*"', '/srv/app'],
};

const aliasField = (key: AliasField['key']): fc.Arbitrary<AliasField> => fc.oneof(
  fc.constantFrom(...LITERALS[key]).map((literal) => ({ key, literal })),
  fc.tuple(fc.constantFrom(...LITERALS[key]), fc.integer({ min: 0, max: 3 })).map(([literal, anchor]) => ({ key, literal, anchor })),
  fc.integer({ min: 0, max: 4 }).map((alias) => ({ key, alias })),
);

const aliasService = fc.tuple(aliasField('name'), aliasField('port'), fc.option(aliasField('health')), fc.option(aliasField('exe')))
  .map((fields) => fields.filter((f): f is AliasField => f !== null));

export interface AliasDoc {
  /** The drop-in as written, with anchors and aliases. */
  text: string;
  /** The same drop-in with every alias replaced by what it names; undefined when some alias names no earlier anchor. */
  expanded: string | undefined;
}

/** A `services:` list whose values are literals, anchored literals, or aliases (some dangling). */
export const aliasDoc: fc.Arbitrary<AliasDoc> = fc.array(aliasService, { minLength: 1, maxLength: 3 }).map((services) => {
  const anchors = new Map<number, string>();
  let text = 'services:\n';
  let expanded: string | undefined = 'services:\n';
  for (const fields of services) {
    fields.forEach((field, i) => {
      const lead = i === 0 ? '  - ' : '    ';
      if (field.alias !== undefined) {
        text += `${lead}${field.key}: *a${field.alias}\n`;
        const target = anchors.get(field.alias);
        expanded = target === undefined || expanded === undefined ? undefined : `${expanded}${lead}${field.key}: ${target}\n`;
        return;
      }
      const literal = field.literal ?? '';
      if (field.anchor !== undefined) anchors.set(field.anchor, literal);
      text += `${lead}${field.key}: ${field.anchor === undefined ? '' : `&a${field.anchor} `}${literal}\n`;
      if (expanded !== undefined) expanded += `${lead}${field.key}: ${literal}\n`;
    });
  }
  return { text, expanded };
});

/** A billion-laughs document: `depth` layers, each a list of `width` aliases to the layer below. */
export interface AliasBomb {
  width: number;
  depth: number;
  text: string;
}

export const aliasBomb: fc.Arbitrary<AliasBomb> = fc.record({
  width: fc.integer({ min: 2, max: 12 }),
  depth: fc.integer({ min: 2, max: 14 }),
  flow: fc.boolean(),
  host: fc.constantFrom('top-level', 'ports', 'services', 'health'),
}).filter(({ width, depth }) => width ** depth >= 10_000)
  .map(({ width, depth, flow, host }) => {
    const layer = (k: number): string => {
      const items = Array.from({ length: width }, () => (k === 0 ? 'lol' : `*l${k - 1}`));
      return `&l${k} ${flow ? `[${items.join(', ')}]` : `[${items.join(',\n      ')}]`}`;
    };
    const layers = Array.from({ length: depth }, (_, k) => layer(k));
    let text: string;
    switch (host) {
      case 'top-level':
        text = `name: web\nport: 80\n${layers.map((l, k) => `l${k}: ${l}`).join('\n')}\n`;
        break;
      case 'ports':
        text = `name: web\nports:\n${layers.map((l) => `  - ${l}`).join('\n')}\n`;
        break;
      case 'services':
        text = `services:\n${layers.map((l, k) => `  - name: s${k}\n    port: ${1000 + k}\n    exe: ${l}`).join('\n')}\n`;
        break;
      default:
        text = `name: web\nport: 80\nhealth:\n  check: tcp\n${layers.map((l, k) => `  l${k}: ${l}`).join('\n')}\n`;
    }
    return { width, depth, text };
  });
