// Bytes -> YAML document with positions: UTF-8 check, BOM, parse errors, alias bound, and locating a key path.
import { isMap, isScalar, isSeq, parseDocument, visit, type Document, type Node } from 'yaml';
import type { Diagnostic } from './types.js';

/** Aliases allowed when turning a document into data; more means an alias bomb. */
export const MAX_ALIAS_COUNT = 100;

export type PathSegment = string | number;

export interface YamlSource {
  file: string;
  doc: Document.Parsed;
  lines: LineIndex;
  /** The document as plain data (undefined for an empty document). */
  value: unknown;
}

/** Offsets -> 1-based line and column, from the text's own line breaks (\n; \r\n counts once), as editors count. */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
    }
  }

  linePos(offset: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - (this.starts[lo] ?? 0) + 1 };
  }
}

function diag(file: string, line: number, col: number, message: string, hint?: string): Diagnostic {
  return hint === undefined ? { file, line, col, severity: 'error', message } : { file, line, col, severity: 'error', message, hint };
}

/** Offset of the first byte that is not valid UTF-8, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    let need = 0;
    let min = 0;
    if (b < 0x80) { i++; continue; }
    if (b >= 0xc2 && b <= 0xdf) { need = 1; min = 0x80; }
    else if (b >= 0xe0 && b <= 0xef) { need = 2; min = 0x800; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; min = 0x10000; }
    else return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/** Decode UTF-8 (a leading BOM dropped) or report the first bad byte's line and column. */
export function decodeUtf8(file: string, bytes: Uint8Array): { text: string } | { error: Diagnostic } {
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    const before = new TextDecoder().decode(bytes.subarray(0, bad));
    const lines = before.split('\n');
    const line = lines.length;
    const col = (lines[lines.length - 1] ?? '').length + 1;
    const byte = (bytes[bad] ?? 0).toString(16).padStart(2, '0');
    return { error: diag(file, line, col, `file is not valid UTF-8 (byte 0x${byte} at offset ${bad})`, 'save the file as UTF-8') };
  }
  let text = new TextDecoder('utf-8').decode(bytes);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return { text };
}

/** Parse one YAML document; every problem comes back with its line and column. */
export function parseYaml(file: string, text: string): { source: YamlSource } | { errors: Diagnostic[] } {
  // Positions come from the text's own line breaks: the parser's line counter can miss one
  // after a stray document marker such as "--".
  const lines = new LineIndex(text);
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, strict: true, logLevel: 'error' });
  if (doc.errors.length > 0) {
    return {
      errors: doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        const message = e.code === 'MULTIPLE_DOCS'
          ? 'a second YAML document starts here; a file holds one document'
          : (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
        const hint = e.code === 'TAB_AS_INDENT' || /tab/i.test(message) ? 'indent with spaces; YAML does not allow tabs for indentation'
          : e.code === 'MULTIPLE_DOCS' ? 'remove the "---" line, or put the services in a list under "services:"' : undefined;
        return diag(file, pos.line, pos.col, `invalid YAML: ${message}`, hint);
      }),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    const offset = firstAliasOffset(doc);
    const pos = lines.linePos(offset);
    const message = error instanceof Error ? error.message : String(error);
    return { errors: [diag(file, pos.line, pos.col, `too many YAML alias expansions (${message})`, `at most ${MAX_ALIAS_COUNT} aliases are expanded; write the values out`)] };
  }
  return { source: { file, doc, lines, value } };
}

function firstAliasOffset(doc: Document.Parsed): number {
  let first = 0;
  visit(doc, {
    Alias(_key, node) {
      first = node.range ? node.range[0] : 0;
      return visit.BREAK;
    },
  });
  return first;
}

/**
 * Where a path points in the source: the key itself (for unknown keys) or the value.
 * Falls back to the deepest ancestor that exists.
 */
export function locate(source: YamlSource, path: readonly PathSegment[], at: 'key' | 'value' = 'value'): { line: number; col: number } {
  let node: unknown = source.doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(segment));
      if (!pair) break;
      const keyStart = rangeStart(pair.key);
      if (last && at === 'key' && keyStart !== undefined) { offset = keyStart; break; }
      node = pair.value;
      offset = rangeStart(node) ?? keyStart ?? offset;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) break;
      node = item;
      offset = rangeStart(node) ?? offset;
    } else {
      break;
    }
  }
  return source.lines.linePos(offset);
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | undefined)?.range;
  return range ? range[0] : undefined;
}
