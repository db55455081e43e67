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

function readVarint(buf: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < buf.length && i < at + 10; i += 1) {
    const byte = buf[i]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, i + 1];
    scale *= 128;
  }
  throw new WireError(`truncated or overlong varint at byte ${at}`);
}

/** The fields of the message in buf[from, to), in order; throws WireError on malformed input. */
export function* readFields(buf: Uint8Array, from = 0, to = buf.length): Generator<WireField> {
  let at = from;
  while (at < to) {
    const start = at;
    const [tag, afterTag] = readVarint(buf, at);
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 0) throw new WireError(`field number 0 at byte ${start}`);
    let valueStart = afterTag;
    let end: number;
    switch (wireType) {
      case WIRE.varint: end = readVarint(buf, afterTag)[1]; break;
      case WIRE.fixed64: end = afterTag + 8; break;
      case WIRE.fixed32: end = afterTag + 4; break;
      case WIRE.bytes: {
        const [length, afterLength] = readVarint(buf, afterTag);
        valueStart = afterLength;
        end = afterLength + length;
        break;
      }
      default: throw new WireError(`unsupported wire type ${wireType} at byte ${start}`);
    }
    if (end > to) throw new WireError(`field ${field} at byte ${start} runs past its message`);
    yield { field, wireType, start, valueStart, end };
    at = end;
  }
}

export function readFixed64(buf: Uint8Array, at: number): bigint {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).readBigUInt64LE(at);
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
