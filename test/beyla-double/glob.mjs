// exe_path globs as Beyla v3.31 compiles them (gobwas/glob, no separators), written apart from the agent's own parser.

/** The error Beyla's YAML decoder reports for a glob gobwas cannot compile. */
export class GlobError extends Error {}

const quote = (c) => c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
const quoteInClass = (c) => c.replace(/[\\^[\]-]/g, '\\$&');

/**
 * A character class after its "[": one "lo-hi" range or a run of characters (escapes allowed),
 * optionally after "!", then "]". Returns [regexp source, index after "]"].
 */
const classAt = (chars, start) => {
  let i = start;
  let not = false;
  if (chars[i] === '!') { not = true; i++; }
  if (i >= chars.length) throw new GlobError('unexpected end of input');
  let body;
  if (chars[i + 1] === '-') {
    const lo = chars[i];
    const hi = chars[i + 2];
    if (hi === undefined || chars[i + 3] === undefined) throw new GlobError('unexpected end of input');
    if (chars[i + 3] !== ']') throw new GlobError('expected close range character');
    if (hi.codePointAt(0) < lo.codePointAt(0)) throw new GlobError(`hi character '${hi}' should be greater than lo '${lo}'`);
    body = `${quoteInClass(lo)}-${quoteInClass(hi)}`;
    i += 4;
  } else {
    let text = '';
    let escaped = false;
    for (; i < chars.length; i++) {
      const c = chars[i];
      if (!escaped && c === '\\') { escaped = true; continue; }
      if (!escaped && c === ']') break;
      escaped = false;
      text += c;
    }
    if (i >= chars.length) throw new GlobError('unexpected end of input');
    if (text === '') throw new GlobError('could not parse range');
    body = [...text].map(quoteInClass).join('');
    i += 1;
  }
  return [`[${not ? '^' : ''}${body}]`, i];
};

/** The whole glob as a regexp source; `{` left open at the end closes there, a lone trailing `\` is dropped. */
const source = (glob) => {
  const chars = [...glob];
  let out = '';
  let depth = 0;
  let escaped = false;
  for (let i = 0; i < chars.length;) {
    const c = chars[i];
    if (escaped) { out += quote(c); escaped = false; i++; continue; }
    if (c === '\\') { escaped = true; i++; continue; }
    if (c === '*') { out += '.*'; i += chars[i + 1] === '*' ? 2 : 1; continue; }
    if (c === '?') { out += '.'; i++; continue; }
    if (c === '[') { const [cls, next] = classAt(chars, i + 1); out += cls; i = next; continue; }
    if (c === '{') { out += '(?:'; depth++; i++; continue; }
    if (c === ',' && depth > 0) { out += '|'; i++; continue; }
    if (c === '}' && depth > 0) { out += ')'; depth--; i++; continue; }
    out += quote(c);
    i++;
  }
  return out + ')'.repeat(depth);
};

/** A RegExp matching whole executable paths, or a GlobError. */
export const compileGlob = (glob) => new RegExp(`^${source(glob)}$`, 'su');
