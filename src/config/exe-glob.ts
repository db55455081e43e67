// Beyla's exe_path glob (gobwas/glob, no separators): parse with its grammar, refuse what Beyla cannot compile, match as it does.

/** One piece of a parsed glob. `any` is `*` and `**` alike: with no separators both cross `/`. */
export type GlobNode =
  | { kind: 'text'; text: string }
  | { kind: 'any' }
  | { kind: 'single' }
  | { kind: 'list'; chars: string[]; not: boolean }
  | { kind: 'range'; lo: number; hi: number; not: boolean }
  | { kind: 'anyOf'; alternatives: GlobNode[][] };

export type GlobParse =
  | { ok: true; nodes: GlobNode[] }
  /** `at` is the 1-based character (code point) where the problem was seen. */
  | { ok: false; at: number; reason: string; beylaRejects: boolean };

/** PATH_MAX: no executable path is longer, so no useful glob is. */
export const MAX_EXE_GLOB_LENGTH = 4096;

type Token =
  | { type: 'text'; text: string }
  | { type: 'any' | 'single' | 'not' | 'rangeOpen' | 'rangeClose' | 'between' | 'termsOpen' | 'termsClose' | 'separator' | 'eof' }
  | { type: 'lo' | 'hi'; char: string }
  | { type: 'error'; reason: string };

const TEXT_BREAKERS = ['?', '*', '[', '{'];
const TERMS_BREAKERS = [...TEXT_BREAKERS, '}', ','];

/**
 * gobwas/glob's lexer, step for step (its `fetchItem`, `fetchRange` and `fetchText`), over code
 * points. A trailing backslash is recorded in `danglingEscape` (gobwas drops it without a word).
 */
function lex(chars: readonly string[]): { tokens: Token[]; positions: number[]; danglingEscape: boolean } {
  const tokens: Token[] = [];
  const positions: number[] = [];
  let pos = 0;
  let terms = 0;
  let danglingEscape = false;
  const push = (token: Token, at = pos): void => { tokens.push(token); positions.push(at); };
  const fetchText = (breakers: readonly string[]): void => {
    const start = pos;
    let text = '';
    let escaped = false;
    while (pos < chars.length) {
      const c = chars[pos] as string;
      if (!escaped && c === '\\') { escaped = true; pos++; continue; }
      if (!escaped && breakers.includes(c)) break;
      escaped = false;
      text += c;
      pos++;
    }
    if (escaped) danglingEscape = true;
    if (text !== '') push({ type: 'text', text }, start);
  };
  const fetchRange = (): boolean => {
    let wantHi = false;
    let wantClose = false;
    let seenNot = false;
    for (;;) {
      if (pos >= chars.length) { push({ type: 'error', reason: 'unexpected end of input: "[" is never closed by "]"' }); return false; }
      const c = chars[pos] as string;
      if (wantClose) {
        if (c !== ']') { push({ type: 'error', reason: `expected "]" to close the character class, found "${c}" (a class is one range "[a-z]" or a list of characters "[abc]", not both)` }); return false; }
        push({ type: 'rangeClose' });
        pos++;
        return true;
      }
      if (wantHi) { push({ type: 'hi', char: c }); pos++; wantClose = true; continue; }
      if (!seenNot && c === '!') { push({ type: 'not' }); pos++; seenNot = true; continue; }
      if (chars[pos + 1] === '-') {
        push({ type: 'lo', char: c });
        push({ type: 'between' }, pos + 1);
        pos += 2;
        wantHi = true;
        continue;
      }
      fetchText([']']);
      wantClose = true;
    }
  };
  for (;;) {
    if (pos >= chars.length) { push({ type: 'eof' }); break; }
    const c = chars[pos] as string;
    if (c === '{') { terms++; push({ type: 'termsOpen' }); pos++; }
    else if (c === ',' && terms > 0) { push({ type: 'separator' }); pos++; }
    else if (c === '}' && terms > 0) { terms--; push({ type: 'termsClose' }); pos++; }
    else if (c === '[') { push({ type: 'rangeOpen' }); pos++; if (!fetchRange()) break; }
    else if (c === '?') { push({ type: 'single' }); pos++; }
    else if (c === '*') { push({ type: 'any' }); pos += chars[pos + 1] === '*' ? 2 : 1; }
    else fetchText(terms > 0 ? TERMS_BREAKERS : TEXT_BREAKERS);
  }
  return { tokens, positions, danglingEscape };
}

const codePoint = (c: string): number => c.codePointAt(0) ?? 0;

/** gobwas's parser over the tokens: errors where it errs; an unclosed "{" (which it accepts) is reported apart. */
function parse(tokens: readonly Token[], positions: readonly number[]): GlobParse {
  const root: GlobNode[] = [];
  const stack: { nodes: GlobNode[]; group: GlobNode[][] | undefined; at: number }[] = [{ nodes: root, group: undefined, at: 0 }];
  const fail = (i: number, reason: string, beylaRejects = true): GlobParse => ({ ok: false, at: (positions[i] ?? 0) + 1, reason, beylaRejects });
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as Token;
    const top = stack[stack.length - 1] as (typeof stack)[number];
    switch (token.type) {
      case 'eof':
        if (stack.length > 1) return { ok: false, at: top.at + 1, reason: '"{" is never closed by "}"', beylaRejects: false };
        return { ok: true, nodes: root };
      case 'error': return fail(i, token.reason);
      case 'text': top.nodes.push({ kind: 'text', text: token.text }); break;
      case 'any': top.nodes.push({ kind: 'any' }); break;
      case 'single': top.nodes.push({ kind: 'single' }); break;
      case 'termsOpen': {
        const first: GlobNode[] = [];
        const alternatives = [first];
        top.nodes.push({ kind: 'anyOf', alternatives });
        stack.push({ nodes: first, group: alternatives, at: positions[i] ?? 0 });
        break;
      }
      case 'separator': {
        const next: GlobNode[] = [];
        top.group?.push(next);
        top.nodes = next;
        break;
      }
      case 'termsClose': stack.pop(); break;
      case 'rangeOpen': {
        let not = false;
        let lo: string | undefined;
        let hi: string | undefined;
        let text: string | undefined;
        // gobwas's lexer reports an error inside a class before any token of that class.
        const close = tokens.findIndex((t, k) => k > i && (t.type === 'rangeClose' || t.type === 'error'));
        if (close >= 0 && tokens[close]?.type === 'error') return fail(close, (tokens[close] as { reason: string }).reason);
        for (i++; i < tokens.length; i++) {
          const t = tokens[i] as Token;
          if (t.type === 'not') not = true;
          else if (t.type === 'lo') lo = t.char;
          else if (t.type === 'hi') {
            hi = t.char;
            if (lo !== undefined && codePoint(hi) < codePoint(lo)) return fail(i, `the range "${lo}-${hi}" runs backwards: "${hi}" comes before "${lo}"`);
          } else if (t.type === 'text') text = t.text;
          else if (t.type === 'rangeClose') break;
        }
        const isRange = lo !== undefined && hi !== undefined;
        if (isRange === (text !== undefined)) return fail(i, 'empty character class: "[]" and "[!]" match nothing; escape a literal bracket as "\\["');
        top.nodes.push(isRange
          ? { kind: 'range', lo: codePoint(lo as string), hi: codePoint(hi as string), not }
          : { kind: 'list', chars: Array.from(text as string), not });
        break;
      }
      default: return fail(i, `unexpected ${token.type}`);
    }
  }
  return { ok: true, nodes: root };
}

function describeControl(c: string): string {
  const names: Record<string, string> = { '\n': 'a newline', '\r': 'a carriage return', '\t': 'a tab', '\0': 'a NUL byte' };
  return names[c] ?? `the control character U+${codePoint(c).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Parse an exe glob with Beyla's grammar. Also refused, though gobwas would take them: control
 * characters (no path has them; a newline is a paste accident), more than MAX_EXE_GLOB_LENGTH
 * characters, a trailing lone backslash (gobwas drops it) and an unclosed "{" (gobwas closes it
 * at the end): each is a typo whose meaning would surprise. `beylaRejects` tells them apart.
 */
export function parseExeGlob(glob: string): GlobParse {
  const chars = Array.from(glob);
  if (chars.length > MAX_EXE_GLOB_LENGTH) return { ok: false, at: MAX_EXE_GLOB_LENGTH + 1, reason: `is ${chars.length} characters long; no executable path is longer than ${MAX_EXE_GLOB_LENGTH}`, beylaRejects: false };
  const control = chars.findIndex((c) => /[\u0000-\u001f\u007f]/.test(c));
  if (control >= 0) return { ok: false, at: control + 1, reason: `contains ${describeControl(chars[control] as string)}`, beylaRejects: false };
  const { tokens, positions, danglingEscape } = lex(chars);
  const parsed = parse(tokens, positions);
  if (parsed.ok && danglingEscape) return { ok: false, at: chars.length, reason: 'ends with a lone backslash, which escapes nothing (write "\\\\" for a backslash)', beylaRejects: false };
  return parsed;
}

const escapeRegExp = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
const classChar = (cp: number): string => String.fromCodePoint(cp).replace(/[\\^[\]-]/g, '\\$&');

function toRegExpSource(nodes: readonly GlobNode[]): string {
  return nodes.map((node) => {
    switch (node.kind) {
      case 'text': return escapeRegExp(node.text);
      case 'any': return '.*';
      case 'single': return '.';
      case 'list': return `[${node.not ? '^' : ''}${node.chars.map((c) => classChar(codePoint(c))).join('')}]`;
      case 'range': return `[${node.not ? '^' : ''}${classChar(node.lo)}-${classChar(node.hi)}]`;
      case 'anyOf': return `(?:${node.alternatives.map(toRegExpSource).join('|')})`;
    }
    return '';
  }).join('');
}

/** A matcher for the whole executable path, as Beyla matches it; null when the glob does not parse. */
export function exeGlobMatcher(glob: string): RegExp | null {
  const parsed = parseExeGlob(glob);
  if (!parsed.ok) return null;
  return new RegExp(`^${toRegExpSource(parsed.nodes)}$`, 'su');
}
