// Generated drop-ins with a model of what each should mean: every part valid or broken on purpose, then written with the yaml package.
import fc from 'fast-check';
import YAML, { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { normalizeSpans, spansOverlap, type Span } from './fuzz-ranges.js';

/** Why a part is broken: the schema rejects it, or the checks after the schema do. */
export type Fault = 'schema' | 'semantic';

interface Part {
  /** The value written; undefined means the key is left out. */
  value: unknown;
  fault?: Fault;
}

export interface ExpectedHealth {
  kind: 'tcp' | 'http' | 'none';
  path?: string;
  intervalMs: number;
  timeoutMs: number;
}

export interface ServiceSpec {
  /** The mapping as written, keys in writing order. */
  raw: Record<string, unknown>;
  faults: Fault[];
  /** Meaningful when the part is valid. */
  name: string | undefined;
  spans: Span[];
  exe?: string;
  type?: string;
  health: ExpectedHealth;
}

export interface WriteStyle {
  collectionStyle: 'any' | 'block' | 'flow';
  defaultStringType: 'PLAIN' | 'QUOTE_DOUBLE' | 'QUOTE_SINGLE';
  indent: number;
  crlf: boolean;
  bom: boolean;
  leadingComment: boolean;
}

export type DropInSpec =
  | { form: 'single'; service: ServiceSpec; style: WriteStyle }
  | { form: 'list'; services: ServiceSpec[]; extraTop?: [string, unknown]; style: WriteStyle }
  | { form: 'empty-list'; style: WriteStyle };

export interface DefaultHealth {
  intervalMs: number;
  timeoutMs: number;
}

const ok = (value: unknown): Part => ({ value });
const bad = (fault: Fault) => (value: unknown): Part => ({ value, fault });

// ---- names ----
export const dnsLabel = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom('web', 'api', 'db') }, // a small pool, so duplicates happen
  { weight: 3, arbitrary: fc.stringMatching(/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/) },
);
const invalidName = fc.oneof(
  fc.constantFrom('Web', '1st', '-a', 'a-', 'a_b', 'a.b', '', 'ü', 'a'.repeat(64), 'web ', ' web', 'we\nb'),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(['web']),
);
const namePart: fc.Arbitrary<Part> = fc.oneof(
  { weight: 12, arbitrary: dnsLabel.map(ok) },
  { weight: 1, arbitrary: invalidName.map(bad('schema')) },
  { weight: 1, arbitrary: fc.constant({ value: undefined, fault: 'schema' as const }) },
);

// ---- ports ----
interface PortItem extends Part {
  span?: Span;
}
const port = fc.integer({ min: 1, max: 65535 });
/** Ports from a narrow band, so two services in one file often collide. */
const crowdedPort = fc.integer({ min: 8000, max: 8012 });
const anyPort = fc.oneof({ weight: 1, arbitrary: port }, { weight: 2, arbitrary: crowdedPort });
const zeros = fc.constantFrom('', '', '', '0', '00');

const validItem: fc.Arbitrary<PortItem> = fc.oneof(
  anyPort.map((p) => ({ value: p, span: { from: p, to: p } })),
  fc.tuple(anyPort, zeros).map(([p, z]) => ({ value: `${z}${p}`, span: { from: p, to: p } })),
  fc.tuple(anyPort, fc.integer({ min: 0, max: 40 }), zeros).map(([p, width, z]) => {
    const to = Math.min(65535, p + width);
    return { value: `${z}${p}-${to}`, span: { from: p, to } };
  }),
);
const schemaBadItem: fc.Arbitrary<PortItem> = fc.oneof(
  fc.constantFrom(0, -1, 65536, 100000, 1.5, 8080.5, 'abc', '1-', '-5', '1 - 2', '1,2', '', ' 80', '80 ', '0x50', null, true, [80], { p: 80 }),
  fc.integer({ min: -70000, max: 0 }),
  fc.integer({ min: 65536, max: 2 ** 31 }),
).map(bad('schema'));
const semanticBadItem: fc.Arbitrary<PortItem> = fc.oneof(
  fc.tuple(port, fc.integer({ min: 1, max: 500 })).filter(([p, d]) => p - d >= 1).map(([p, d]) => `${p}-${p - d}`),
  fc.constantFrom('0', '00', '65536', '99999', '1-70000', '0-80', '99999999999999999999999'),
  fc.integer({ min: 65536, max: 999_999 }).map(String),
).map(bad('semantic'));
const portItem = fc.oneof(
  { weight: 16, arbitrary: validItem },
  { weight: 1, arbitrary: schemaBadItem },
  { weight: 1, arbitrary: semanticBadItem },
);

interface PortsChoice {
  fields: [string, unknown][];
  faults: Fault[];
  spans: Span[];
}
const portsChoice: fc.Arbitrary<PortsChoice> = fc.oneof(
  { weight: 6, arbitrary: anyPort.map((p): PortsChoice => ({ fields: [['port', p]], faults: [], spans: [{ from: p, to: p }] })) },
  {
    weight: 1,
    arbitrary: fc.oneof(fc.constantFrom(0, 65536, 1.5, '80', '8080', null, [80]), fc.integer({ min: 65536 }), fc.integer({ max: 0 }))
      .map((v): PortsChoice => ({ fields: [['port', v]], faults: ['schema'], spans: [] })),
  },
  {
    weight: 6,
    arbitrary: fc.array(portItem, { minLength: 1, maxLength: 5 }).map((items): PortsChoice => ({
      fields: [['ports', items.map((i) => i.value)]],
      faults: items.flatMap((i) => (i.fault ? [i.fault] : [])),
      spans: items.flatMap((i) => (i.span ? [i.span] : [])),
    })),
  },
  { weight: 1, arbitrary: fc.constant<PortsChoice>({ fields: [['ports', []]], faults: ['schema'], spans: [] }) },
  {
    weight: 1,
    arbitrary: fc.tuple(anyPort, fc.array(validItem, { minLength: 1, maxLength: 2 })).map(([p, items]): PortsChoice => ({
      fields: [['port', p], ['ports', items.map((i) => i.value)]],
      faults: ['semantic'],
      spans: [],
    })),
  },
  { weight: 1, arbitrary: fc.constant<PortsChoice>({ fields: [], faults: ['semantic'], spans: [] }) },
);

// ---- exe, type ----
const exePart: fc.Arbitrary<Part> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ value: undefined }) },
  { weight: 2, arbitrary: fc.constantFrom('*gunicorn*', '/usr/bin/node', '*java*').map(ok) },
  // Any text without glob brackets, escapes or control characters is a literal glob Beyla compiles.
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }).filter((g) => !/[\u0000-\u001f\u007f[\]{}\\]/u.test(g)).map(ok) },
  { weight: 1, arbitrary: fc.constantFrom('', 42, true, ['*x*']).map(bad('schema')) },
  { weight: 1, arbitrary: fc.constantFrom('*[web2*', '[a-z0-9]', '/srv/[]', 'a\\', '{a,b', 'x\ny').map(bad('semantic')) },
);
const typePart: fc.Arbitrary<Part> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ value: undefined }) },
  { weight: 3, arbitrary: fc.constantFrom('http', 'grpc', 'sql', 'redis', 'kafka', 'mongo', 'other').map(ok) },
  { weight: 1, arbitrary: fc.constantFrom('HTTP', 'soap', '', 5).map(bad('schema')) },
);

// ---- health ----
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
type Unit = keyof typeof UNIT_MS;
interface Duration {
  text: string;
  ms: number;
}
const durationPiece: fc.Arbitrary<Duration> = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 30_000 }), fc.constantFrom<Unit>('ms')).map(([n, u]) => ({ text: `${n}${u}`, ms: n * UNIT_MS[u] })),
  fc.tuple(fc.integer({ min: 0, max: 120 }), fc.constantFrom<Unit>('s', 'm', 'h')).map(([n, u]) => ({ text: `${n}${u}`, ms: n * UNIT_MS[u] })),
  fc.integer({ min: 0, max: 40 }).map((half) => ({ text: `${half / 2}s`, ms: half * 500 })),
);
const duration: fc.Arbitrary<Duration> = fc.array(durationPiece, { minLength: 1, maxLength: 2 })
  .map((pieces) => ({ text: pieces.map((p) => p.text).join(''), ms: pieces.reduce((n, p) => n + p.ms, 0) }));
const badDuration = fc.constantFrom('soon', '10', '1 s', '-1s', '1d', '', 5, '1.s', 's');
const httpPath = fc.string({ unit: fc.constantFrom(...'abz09/-._~%?=&'.split('')), maxLength: 12 }).map((s) => `/${s}`);

interface HealthChoice {
  value: unknown;
  faults: Fault[];
  /** The check's settings, before defaults fill interval and timeout. */
  kind: ExpectedHealth['kind'];
  path?: string;
  intervalMs?: number;
  timeoutMs?: number;
}
const healthString: fc.Arbitrary<HealthChoice> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<HealthChoice>({ value: undefined, faults: [], kind: 'tcp' }) },
  { weight: 2, arbitrary: fc.constant<HealthChoice>({ value: 'tcp', faults: [], kind: 'tcp' }) },
  { weight: 2, arbitrary: fc.constant<HealthChoice>({ value: 'none', faults: [], kind: 'none' }) },
  { weight: 2, arbitrary: fc.constant<HealthChoice>({ value: 'http', faults: [], kind: 'http', path: '/' }) },
  { weight: 2, arbitrary: httpPath.map((path): HealthChoice => ({ value: `http:${path}`, faults: [], kind: 'http', path })) },
  { weight: 1, arbitrary: fc.constantFrom('ping', 'HTTP', 'http:x', 'tcp ', 'http:', 'http:/a\nb', '').map((value): HealthChoice => ({ value, faults: ['schema'], kind: 'tcp' })) },
);
type DurationPart = Part & { ms?: number };
const durationPart: fc.Arbitrary<DurationPart> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<DurationPart>({ value: undefined }) },
  { weight: 6, arbitrary: duration.map((d): DurationPart => ({ value: d.text, ms: d.ms })) },
  { weight: 1, arbitrary: badDuration.map(bad('schema')) },
);
const healthObject: fc.Arbitrary<HealthChoice> = fc.record({
  check: fc.oneof({ weight: 16, arbitrary: fc.constantFrom('tcp', 'http', 'none').map(ok) }, { weight: 1, arbitrary: fc.constantFrom('udp', 'HTTP', undefined).map(bad('schema')) }),
  path: fc.oneof({ weight: 6, arbitrary: fc.constant<Part>({ value: undefined }) }, { weight: 4, arbitrary: httpPath.map(ok) }, { weight: 1, arbitrary: fc.constantFrom('x', '', 'health').map(bad('schema')) }),
  interval: durationPart,
  timeout: durationPart,
  extra: fc.oneof({ weight: 16, arbitrary: fc.constant<Part>({ value: undefined }) }, { weight: 1, arbitrary: fc.constant(3).map(bad('schema')) }),
}).map((parts) => {
  const value: Record<string, unknown> = {};
  if (parts.check.value !== undefined) value.check = parts.check.value;
  if (parts.path.value !== undefined) value.path = parts.path.value;
  if (parts.interval.value !== undefined) value.interval = parts.interval.value;
  if (parts.timeout.value !== undefined) value.timeout = parts.timeout.value;
  if (parts.extra.value !== undefined) value.retries = parts.extra.value;
  const faults = [parts.check, parts.path, parts.interval, parts.timeout, parts.extra].flatMap((p) => (p.fault ? [p.fault] : []));
  const kind = (parts.check.fault ? 'tcp' : parts.check.value) as ExpectedHealth['kind'];
  const choice: HealthChoice = { value, faults, kind };
  if (kind === 'http') choice.path = (parts.path.value as string | undefined) ?? '/';
  if (parts.interval.ms !== undefined) choice.intervalMs = parts.interval.ms;
  if (parts.timeout.ms !== undefined) choice.timeoutMs = parts.timeout.ms;
  return choice;
});
const healthChoice = fc.oneof({ weight: 3, arbitrary: healthString }, { weight: 2, arbitrary: healthObject });

const extraKey: fc.Arbitrary<[string, unknown] | undefined> = fc.oneof(
  { weight: 12, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom<[string, unknown]>(['prot', 80], ['Port', 80], ['labels', {}], ['services', 1], ['ports ', [80]]) },
);

/** One service mapping with its meaning; `defaults` are agent.health's interval and timeout. */
export function serviceSpec(defaults: DefaultHealth): fc.Arbitrary<ServiceSpec> {
  return fc.record({ name: namePart, ports: portsChoice, exe: exePart, health: healthChoice, type: typePart, extra: extraKey, order: fc.array(fc.nat(), { minLength: 8, maxLength: 8 }) })
    .map(({ name, ports, exe, health, type, extra, order }) => {
      const fields: [string, unknown][] = [];
      if (name.value !== undefined) fields.push(['name', name.value]);
      fields.push(...ports.fields);
      if (exe.value !== undefined) fields.push(['exe', exe.value]);
      if (health.value !== undefined) fields.push(['health', health.value]);
      if (type.value !== undefined) fields.push(['type', type.value]);
      if (extra !== undefined) fields.push(extra);
      // Key order does not change the meaning: shuffle it with the generated keys.
      const ordered = fields.map((f, i) => ({ f, k: order[i] ?? 0 })).sort((a, b) => a.k - b.k).map((x) => x.f);
      const expected: ExpectedHealth = {
        kind: health.kind,
        intervalMs: health.intervalMs ?? defaults.intervalMs,
        timeoutMs: health.timeoutMs ?? defaults.timeoutMs,
      };
      if (health.path !== undefined) expected.path = health.path;
      const faults: Fault[] = [name.fault, exe.fault, type.fault, extra === undefined ? undefined : 'schema' as const, ...ports.faults, ...health.faults]
        .filter((f): f is Fault => f !== undefined);
      if (health.faults.length === 0 && expected.kind !== 'none' && expected.timeoutMs > expected.intervalMs) faults.push('semantic');
      const spec: ServiceSpec = {
        raw: Object.fromEntries(ordered),
        faults,
        name: name.fault ? undefined : (name.value as string),
        spans: normalizeSpans(ports.spans),
        health: expected,
      };
      if (exe.value !== undefined && !exe.fault) spec.exe = exe.value as string;
      if (type.value !== undefined && !type.fault) spec.type = type.value as string;
      return spec;
    });
}

const writeStyle: fc.Arbitrary<WriteStyle> = fc.record({
  collectionStyle: fc.constantFrom('any', 'any', 'block', 'flow'),
  defaultStringType: fc.constantFrom('PLAIN', 'PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE'),
  indent: fc.constantFrom(2, 2, 4),
  crlf: fc.boolean(),
  bom: fc.boolean(),
  leadingComment: fc.boolean(),
});

/** A whole drop-in: one service at the top level, or a `services:` list (sometimes empty, sometimes with a stray key beside it). */
export function dropInSpec(defaults: DefaultHealth): fc.Arbitrary<DropInSpec> {
  const service = serviceSpec(defaults);
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ form: fc.constant('single' as const), service, style: writeStyle }) },
    {
      weight: 3,
      arbitrary: fc.record({
        form: fc.constant('list' as const),
        services: fc.array(service, { minLength: 1, maxLength: 4 }),
        extraTop: fc.oneof({ weight: 10, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom<[string, unknown]>(['name', 'web'], ['version', 2]) }),
        style: writeStyle,
      }, { requiredKeys: ['form', 'services', 'style'] }),
    },
    { weight: 1, arbitrary: fc.record({ form: fc.constant('empty-list' as const), style: writeStyle }) },
  );
}

/** The drop-in's text as a person (or a tool) might have written it. */
export function writeDropIn(spec: DropInSpec): string {
  let data: unknown;
  if (spec.form === 'single') data = spec.service.raw;
  else if (spec.form === 'empty-list') data = { services: [] };
  else data = { services: spec.services.map((s) => s.raw), ...(spec.extraTop ? Object.fromEntries([spec.extraTop]) : {}) };
  const { style } = spec;
  let text = YAML.stringify(data, { collectionStyle: style.collectionStyle, defaultStringType: style.defaultStringType, indent: style.indent });
  if (style.leadingComment) text = `# written by a fuzz test\n${text}`;
  if (style.crlf) text = text.replace(/\n/g, '\r\n');
  if (style.bom) text = `\ufeff${text}`;
  return text;
}

export type Expectation =
  | { ok: true; services: ServiceSpec[] }
  /** Where errors must be (line spans, 1-based, inclusive), and the spans that must each get at least one. */
  | { ok: false; homes: Span[]; mustReport: Span[] };

function lineSpan(lines: LineCounter, node: Node | null | undefined, fallback: Span): Span {
  const range = node?.range;
  if (!range) return fallback;
  return { from: lines.linePos(range[0]).line, to: lines.linePos(Math.max(range[0], range[1] - 1)).line };
}

/** What parseDropIn must answer for `spec`, written as `text`. */
export function expectDropIn(spec: DropInSpec, text: string): Expectation {
  const lines = new LineCounter();
  const doc = parseDocument(text.replace(/^\ufeff/, ''), { lineCounter: lines });
  const whole: Span = { from: 1, to: text.split('\n').length };
  if (spec.form === 'empty-list') {
    const span = isMap(doc.contents) ? lineSpan(lines, doc.contents.get('services', true) as Node, whole) : whole;
    return { ok: false, homes: [span], mustReport: [span] };
  }
  const services = spec.form === 'single' ? [spec.service] : spec.services;
  const seq = spec.form === 'list' && isMap(doc.contents) ? doc.contents.get('services', true) : undefined;
  const spans = services.map((_, i) => (spec.form === 'single' ? lineSpan(lines, doc.contents, whole) : isSeq(seq) ? lineSpan(lines, seq.items[i] as Node, whole) : whole));
  const fileHomes: Span[] = [];
  if (spec.form === 'list' && spec.extraTop && isMap(doc.contents)) {
    const pair = doc.contents.items.find((p) => String((p.key as { value?: unknown }).value) === spec.extraTop?.[0]);
    fileHomes.push(lineSpan(lines, pair?.key as Node, whole));
  }
  const schemaBad = spans.filter((_, i) => services[i]?.faults.includes('schema'));
  if (schemaBad.length > 0 || fileHomes.length > 0) {
    return { ok: false, homes: [...schemaBad, ...fileHomes], mustReport: [...schemaBad, ...fileHomes] };
  }
  const semanticBad = spans.filter((_, i) => services[i]?.faults.includes('semantic'));
  if (semanticBad.length > 0) return { ok: false, homes: semanticBad, mustReport: semanticBad };
  // Every service is fine alone: the later of two services sharing a name or a port is the one reported.
  const clashing = spans.filter((_, i) => services.slice(0, i).some((earlier) => earlier.name === services[i]?.name || spansOverlap(earlier.spans, services[i]?.spans ?? [])));
  if (clashing.length > 0) return { ok: false, homes: clashing, mustReport: clashing };
  return { ok: true, services };
}

/** The line where each service's mapping starts, as the yaml package reads it. */
export function serviceStartLines(spec: DropInSpec, text: string): number[] {
  const lines = new LineCounter();
  const doc = parseDocument(text.replace(/^\ufeff/, ''), { lineCounter: lines });
  if (spec.form === 'single') return [lineSpan(lines, doc.contents, { from: 1, to: 1 }).from];
  const seq = isMap(doc.contents) ? doc.contents.get('services', true) : undefined;
  return isSeq(seq) ? seq.items.map((item) => lineSpan(lines, item as Node, { from: 1, to: 1 }).from) : [];
}
