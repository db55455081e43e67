// Splits one OTLP export body (protobuf or JSON) by item time: spans by start time, metric data points by their time.
import { bytesField, newField, readField, readFixed64, WIRE, WireError } from './protobuf-wire.js';

export type TimedSignal = 'traces' | 'metrics';

export interface SplitResult {
  /** Items (spans or data points) kept and dropped. */
  kept: number;
  dropped: number;
  /** The latest time among the kept items (-1n when none). */
  maxKeptNs: bigint;
  /** The body to forward: the original bytes when nothing was dropped, a re-encoded one when some were; null when none is kept. */
  body: Uint8Array | null;
}

/** A body the relay cannot read, or (`tooLarge`) one that inflates past the limit. */
export class OtlpBodyError extends Error {
  constructor(message: string, readonly tooLarge = false) {
    super(message);
  }
}

/** A message whose fields named in `children` hold further items; a leaf is an item whose time is field `timeField` (fixed64). */
type Shape = { children: Readonly<Record<number, Shape>> } | { timeField: number };

const POINTS: Shape = { children: { 1: { timeField: 3 } } }; // data_points; every *DataPoint has time_unix_nano = 3
/** ExportTraceServiceRequest.resource_spans(1).scope_spans(2).spans(2).start_time_unix_nano(7) */
const TRACES: Shape = { children: { 1: { children: { 2: { children: { 2: { timeField: 7 } } } } } } };
/** ExportMetricsServiceRequest.resource_metrics(1).scope_metrics(2).metrics(2).{gauge 5, sum 7, histogram 9, exponential_histogram 10, summary 11}.data_points */
const METRICS: Shape = { children: { 1: { children: { 2: { children: { 2: { children: { 5: POINTS, 7: POINTS, 9: POINTS, 10: POINTS, 11: POINTS } } } } } } } };
const SHAPES: Record<TimedSignal, Shape> = { traces: TRACES, metrics: METRICS };

interface Walk { kept: number; dropped: number; maxKeptNs: bigint; parts: Uint8Array[] | null }

function itemTime(buf: Uint8Array, from: number, to: number, timeField: number): bigint {
  let time = 0n; // absent means 0 in proto3
  const f = newField();
  for (let at = from; at < to;) {
    at = readField(buf, at, to, f);
    if (f.field === timeField && f.wireType === WIRE.fixed64) time = readFixed64(buf, f.valueStart);
  }
  return time;
}

/** Counts (and, with `build`, rewrites without the dropped items) the message buf[from, to) of `shape`. */
function walk(buf: Uint8Array, from: number, to: number, shape: Shape, keep: (ns: bigint) => boolean, build: boolean): Walk {
  const out: Walk = { kept: 0, dropped: 0, maxKeptNs: -1n, parts: build ? [] : null };
  if ('timeField' in shape) throw new Error('walk is given containers only');
  const f = newField();
  for (let at = from; at < to;) {
    at = readField(buf, at, to, f);
    const child = shape.children[f.field];
    if (!child || f.wireType !== WIRE.bytes) {
      out.parts?.push(buf.subarray(f.start, f.end));
      continue;
    }
    if ('timeField' in child) {
      const time = itemTime(buf, f.valueStart, f.end, child.timeField);
      if (keep(time)) {
        out.kept += 1;
        if (time > out.maxKeptNs) out.maxKeptNs = time;
        out.parts?.push(buf.subarray(f.start, f.end));
      } else {
        out.dropped += 1;
      }
      continue;
    }
    const inner = walk(buf, f.valueStart, f.end, child, keep, build);
    out.kept += inner.kept;
    out.dropped += inner.dropped;
    if (inner.maxKeptNs > out.maxKeptNs) out.maxKeptNs = inner.maxKeptNs;
    if (!out.parts || !inner.parts) continue;
    if (inner.dropped === 0) out.parts.push(buf.subarray(f.start, f.end));
    else if (inner.kept > 0) out.parts.push(...bytesField(f.field, inner.parts));
    // else: a container whose items were all dropped goes too
  }
  return out;
}

function splitProtobuf(signal: TimedSignal, body: Uint8Array, keep: (ns: bigint) => boolean): SplitResult {
  try {
    const scan = walk(body, 0, body.length, SHAPES[signal], keep, false);
    const result = { kept: scan.kept, dropped: scan.dropped, maxKeptNs: scan.maxKeptNs };
    if (scan.kept === 0) return { ...result, body: scan.dropped === 0 ? body : null };
    if (scan.dropped === 0) return { ...result, body };
    return { ...result, body: Buffer.concat(walk(body, 0, body.length, SHAPES[signal], keep, true).parts ?? []) };
  } catch (error) {
    if (error instanceof WireError) throw new OtlpBodyError(`not an OTLP ${signal} protobuf body: ${error.message}`);
    throw error;
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** OTLP/JSON writes 64-bit integers as decimal strings; a plain number is read as well (to the precision it has). */
function jsonTime(value: unknown): bigint {
  if (typeof value === 'string' && /^\d+$/.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return BigInt(Math.trunc(value));
  return 0n;
}

const JSON_SHAPE: Record<TimedSignal, { path: readonly string[]; data: readonly string[]; items: string; time: string }> = {
  traces: { path: ['resourceSpans', 'scopeSpans'], data: [], items: 'spans', time: 'startTimeUnixNano' },
  metrics: { path: ['resourceMetrics', 'scopeMetrics', 'metrics'], data: ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'], items: 'dataPoints', time: 'timeUnixNano' },
};

function splitJson(signal: TimedSignal, body: Uint8Array, keep: (ns: bigint) => boolean): SplitResult {
  let root: unknown;
  try {
    root = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch (error) {
    throw new OtlpBodyError(`not an OTLP ${signal} JSON body: ${(error as Error).message}`);
  }
  const shape = JSON_SHAPE[signal];
  const result = { kept: 0, dropped: 0, maxKeptNs: -1n };
  /** The item arrays of one container, filtered in place; returns whether the container still has items or never had any. */
  const filterItems = (holder: Json): boolean => {
    const items = list(holder[shape.items]);
    const left = items.filter((item) => {
      const time = jsonTime(isObject(item) ? item[shape.time] : undefined);
      const kept = keep(time);
      if (kept) {
        result.kept += 1;
        if (time > result.maxKeptNs) result.maxKeptNs = time;
      } else result.dropped += 1;
      return kept;
    });
    if (left.length !== items.length) holder[shape.items] = left;
    return left.length > 0 || items.length === 0;
  };
  const visit = (holder: unknown, depth: number): boolean => {
    if (!isObject(holder)) return true;
    if (depth === shape.path.length) {
      if (shape.data.length === 0) return filterItems(holder);
      const data = shape.data.map((key) => holder[key]).find(isObject);
      return data ? filterItems(data) : true;
    }
    const key = shape.path[depth]!;
    const children = list(holder[key]);
    const left = children.filter((child) => visit(child, depth + 1));
    if (left.length !== children.length) holder[key] = left;
    return left.length > 0 || children.length === 0;
  };
  visit(root, 0);
  if (result.kept === 0) return { ...result, body: result.dropped === 0 ? body : null };
  if (result.dropped === 0) return { ...result, body };
  return { ...result, body: Buffer.from(JSON.stringify(root), 'utf8') };
}

/**
 * Keeps the items of an export body for which `keep(time)` holds. A body with nothing to drop is
 * returned as it is (same bytes); only a mixed one is re-encoded, in its own encoding: protobuf
 * by copying every field it keeps byte for byte (unknown fields included) and rewriting the
 * lengths of the containers above a dropped item. Throws OtlpBodyError on a malformed body.
 */
export function splitByTime(opts: { signal: TimedSignal; json: boolean; body: Uint8Array; keep: (ns: bigint) => boolean }): SplitResult {
  return opts.json ? splitJson(opts.signal, opts.body, opts.keep) : splitProtobuf(opts.signal, opts.body, opts.keep);
}
