// Splits a byte stream into lines with a cap on each: a longer line keeps its first bytes and says how many were cut, then is discarded up to its newline.
import type { Readable } from 'node:stream';

/** Beyla's records are a few hundred bytes; anything past this is cut. */
export const MAX_LINE_BYTES = 64 * 1024;

export interface CappedLine {
  /** The line without its newline (at most `maxLineBytes` bytes of it, decoded as UTF-8). */
  text: string;
  /** Bytes cut from the end of the line (0 when it was whole). */
  truncated: number;
}

export interface SplitCappedLinesOptions {
  stream: Readable;
  onLine: (line: CappedLine) => void;
  maxLineBytes?: number;
}

/**
 * Reads `stream` to its end, calling `onLine` for every line (and for a last line without a
 * newline). Memory stays within one cap per stream however long a line is, so no line of any
 * length can exhaust the agent. Resolves when the stream has ended or was destroyed.
 */
export function splitCappedLines(opts: SplitCappedLinesOptions): Promise<void> {
  const cap = opts.maxLineBytes ?? MAX_LINE_BYTES;
  let kept: Buffer[] = [];
  let keptBytes = 0;
  let cut = 0;
  const keep = (part: Buffer): void => {
    const room = cap - keptBytes;
    if (part.length <= room) {
      if (part.length > 0) kept.push(part);
      keptBytes += part.length;
    } else {
      if (room > 0) kept.push(part.subarray(0, room));
      keptBytes = cap;
      cut += part.length - room;
    }
  };
  const flush = (): void => {
    // A cut inside a multi-byte character leaves a U+FFFD at the end, never a broken record.
    const text = Buffer.concat(kept, keptBytes).toString('utf8').replace(/\r$/, '');
    const truncated = cut;
    kept = [];
    keptBytes = 0;
    cut = 0;
    opts.onLine({ text, truncated });
  };
  opts.stream.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let newline = chunk.indexOf(10, start); newline !== -1; newline = chunk.indexOf(10, start)) {
      keep(chunk.subarray(start, newline));
      flush();
      start = newline + 1;
    }
    keep(chunk.subarray(start));
  });
  return new Promise((resolveEnded) => {
    const done = (): void => {
      if (keptBytes > 0 || cut > 0) flush();
      resolveEnded();
    };
    opts.stream.once('end', done);
    opts.stream.once('close', () => {
      opts.stream.off('end', done);
      done();
    });
  });
}
