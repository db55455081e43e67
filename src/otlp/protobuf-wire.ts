// Protobuf wire format, only as far as the relay needs it: walk a message's fields, read a fixed64, write a length-delimited field.

export const WIRE = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;

/** One field of a message: its number, wire type, and where its tag, value and whole field lie in the buffer. */
export interface WireField {
  field: number;
  wireType: number;
  /** Start of the tag (the whole field is buf[start, end)). */
  start: number;
  /** Start of the value (for wire type 2, after the length). */
  valueStart: number;
  end: number;
}

export class WireError extends Error {}

/** Reads a varint at `at` into `into.value`; returns the offset after it. */
function readVarint(buf: Uint8Array, at: number, into: { value: number }): number {
  let value = 0;
  let scale = 1;
  for (let i = at; i < buf.length && i < at + 10; i += 1) {
    const byte = buf[i]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      into.value = value;
      return i + 1;
    }
    scale *= 128;
  }
  throw new WireError(`truncated or overlong varint at byte ${at}`);
}

/** A field cursor to reuse while walking one message (no allocation per field). */
export function newField(): WireField & { value: number } {
  return { field: 0, wireType: 0, start: 0, valueStart: 0, end: 0, value: 0 };
}

/** Reads the field that starts at `at` (inside a message ending at `to`) into `f`; returns f.end. Throws WireError on malformed input. */
export function readField(buf: Uint8Array, at: number, to: number, f: WireField & { value: number }): number {
  f.start = at;
  const afterTag = readVarint(buf, at, f);
  f.field = Math.floor(f.value / 8);
  f.wireType = f.value % 8;
  if (f.field === 0) throw new WireError(`field number 0 at byte ${at}`);
  f.valueStart = afterTag;
  switch (f.wireType) {
    case WIRE.varint: f.end = readVarint(buf, afterTag, f); break;
    case WIRE.fixed64: f.end = afterTag + 8; break;
    case WIRE.fixed32: f.end = afterTag + 4; break;
    case WIRE.bytes: {
      f.valueStart = readVarint(buf, afterTag, f);
      f.end = f.valueStart + f.value;
      break;
    }
    default: throw new WireError(`unsupported wire type ${f.wireType} at byte ${at}`);
  }
  if (f.end > to) throw new WireError(`field ${f.field} at byte ${at} runs past its message`);
  return f.end;
}

/** A little-endian unsigned 64-bit integer (OTLP's fixed64 times). */
export function readFixed64(buf: Uint8Array, at: number): bigint {
  const lo = (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
  const hi = (buf[at + 4]! | (buf[at + 5]! << 8) | (buf[at + 6]! << 16) | (buf[at + 7]! << 24)) >>> 0;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A length-delimited field (tag, length, then the parts) as buffers to concatenate. */
export function bytesField(field: number, parts: readonly Uint8Array[]): Uint8Array[] {
  const length = parts.reduce((sum, p) => sum + p.length, 0);
  return [varint(field * 8 + WIRE.bytes), varint(length), ...parts];
}
