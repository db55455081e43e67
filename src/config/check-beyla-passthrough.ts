// checkBeylaPassthrough: what is wrong with agent.beyla.config (refused, owned or unsafe keys, sections that must be mappings, keys Beyla does not know).
import { BEYLA_KEYS, MERGED_SECTIONS, REFUSED_KEYS } from './beyla-keys.js';
import { didYouMean } from './did-you-mean.js';

/** One problem with agent.beyla.config; `path` is inside it. */
export interface PassthroughFinding {
  path: readonly string[];
  /** Place a key (refused, unknown) at the key, a wrong value at the value. */
  at: 'key' | 'value';
  severity: 'error' | 'warning';
  message: string;
  hint?: string;
}

const isMapping = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const has = (node: Record<string, unknown>, key: string): boolean => Object.prototype.hasOwnProperty.call(node, key);
const dotted = (path: readonly string[]): string => ['agent.beyla.config', ...path].join('.');

/** Own-property lookup along a path (never through a prototype). */
function lookup(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const key of path) {
    if (!isMapping(node) || !has(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

function unsafeKeys(node: unknown, path: string[], out: PassthroughFinding[]): void {
  if (Array.isArray(node)) { node.forEach((item, i) => unsafeKeys(item, [...path, String(i)], out)); return; }
  if (!isMapping(node)) return;
  for (const key of Object.keys(node)) {
    if (key === '__proto__') {
      out.push({ path: [...path, key], at: 'key', severity: 'error', message: `${dotted([...path, key])} is not a Beyla setting, and is refused: it would change how the settings around it are merged`, hint: 'remove the __proto__ key' });
    } else {
      unsafeKeys(node[key], [...path, key], out);
    }
  }
}

function unknownKeys(config: Record<string, unknown>, out: PassthroughFinding[]): void {
  const unknown = (path: string[], candidates: readonly string[]): void => {
    const key = path[path.length - 1] as string;
    const guess = didYouMean(key, candidates);
    out.push({
      path, at: 'key', severity: 'warning',
      message: `${dotted(path)} is not a Beyla v3.31 setting: Beyla ignores it${guess ? ` (did you mean "${guess}"?)` : ''}`,
      hint: guess ? `rename it to ${guess}` : 'see Beyla\'s configuration reference',
    });
  };
  const top = Object.keys(BEYLA_KEYS);
  for (const key of Object.keys(config)) {
    if (key === '__proto__') continue;
    if (!has(BEYLA_KEYS, key)) { unknown([key], top); continue; }
    const children = BEYLA_KEYS[key];
    const section = config[key];
    if (!children || !isMapping(section)) continue;
    for (const child of Object.keys(section)) {
      if (child !== '__proto__' && !children.includes(child)) unknown([key, child], children);
    }
  }
}

/**
 * Everything wrong with agent.beyla.config, errors first: not a mapping, `__proto__` keys,
 * refused keys (selection, owned, exposing), merged sections that are not mappings; then a
 * warning for each key Beyla does not know (it would ignore it silently).
 */
export function checkBeylaPassthrough(config: unknown): PassthroughFinding[] {
  if (config === undefined || config === null) return [];
  if (!isMapping(config)) return [{ path: [], at: 'value', severity: 'error', message: 'agent.beyla.config must be a mapping of Beyla settings' }];
  const out: PassthroughFinding[] = [];
  unsafeKeys(config, [], out);
  for (const { path, role, reason } of REFUSED_KEYS) {
    if (lookup(config, path) === undefined) continue;
    const what = role === 'exposes' ? 'is refused' : 'is managed by coral-agent';
    out.push({
      path, at: 'key', severity: 'error', message: `${dotted(path)} ${what}: ${reason}`,
      hint: role === 'owned' ? 'remove it from agent.beyla.config: coral-agent sets it for every Beyla instance' : 'remove it from agent.beyla.config',
    });
  }
  for (const key of MERGED_SECTIONS) {
    const value = lookup(config, [key]);
    if (value !== undefined && value !== null && !isMapping(value)) {
      out.push({ path: [key], at: 'value', severity: 'error', message: `${dotted([key])} must be a mapping` });
    }
  }
  unknownKeys(config, out);
  return out;
}
