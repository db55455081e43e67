// One schema-valid service mapping -> a typed Service, with port and health problems placed at their line and column.
import { mergeRanges, parsePortItem } from './ports.js';
import { parseDuration } from './duration.js';
import { parseExeGlob } from './exe-glob.js';
import type { Diagnostic, HealthCheck, HealthDefaults, PortRange, Service } from './types.js';
import { locate, type PathSegment, type YamlSource } from './yaml-text.js';

export interface RawService {
  name: string;
  port?: number;
  ports?: (number | string)[];
  exe?: string;
  health?: string | { check: 'tcp' | 'http' | 'none'; path?: string; interval?: string; timeout?: string };
  type?: string;
}

function error(source: YamlSource, path: readonly PathSegment[], message: string, hint?: string, at: 'key' | 'value' = 'value'): Diagnostic {
  const pos = locate(source, path, at);
  return { file: source.file, line: pos.line, col: pos.col, severity: 'error', message, ...(hint ? { hint } : {}) };
}

const EXE_HINT = 'exe is a glob on the whole executable path: * (crosses /), ?, [abc], [!abc], [a-z], {a,b}; escape a literal one with \\';

/** The first character an HTTP request path may not hold unescaped (as Node refuses them), described; undefined when fine. */
function badPathCharacter(path: string): string | undefined {
  const bad = /[^\u0021-\u007e]/u.exec(path);
  if (!bad) return undefined;
  const c = bad[0];
  const name = c === ' ' ? 'a space' : c === '\t' ? 'a tab' : c === '\n' ? 'a newline' : `the character U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  return `${name} at character ${bad.index + 1}`;
}

function parseHealth(raw: RawService['health'], defaults: HealthDefaults): HealthCheck {
  const base = { intervalMs: defaults.intervalMs, timeoutMs: defaults.timeoutMs };
  if (raw === undefined || raw === 'tcp') return { kind: 'tcp', ...base };
  if (raw === 'none') return { kind: 'none', ...base };
  if (typeof raw === 'string') {
    const path = raw.startsWith('http:') ? raw.slice('http:'.length) : '/';
    return { kind: 'http', path: path || '/', ...base };
  }
  const check: HealthCheck = {
    kind: raw.check,
    intervalMs: raw.interval === undefined ? base.intervalMs : parseDuration(raw.interval) ?? base.intervalMs,
    timeoutMs: raw.timeout === undefined ? base.timeoutMs : parseDuration(raw.timeout) ?? base.timeoutMs,
  };
  if (raw.check === 'http') check.path = raw.path ?? '/';
  return check;
}

/** `path` is where the mapping sits in the document (e.g. [] or ['agent', 'services', 2]). */
export function parseService(opts: { raw: RawService; source: YamlSource; path: readonly PathSegment[]; healthDefaults: HealthDefaults }): { service: Service } | { errors: Diagnostic[] } {
  const { raw, source, path } = opts;
  const errors: Diagnostic[] = [];
  const ranges: PortRange[] = [];
  if (raw.port !== undefined && raw.ports !== undefined) {
    errors.push(error(source, [...path, 'ports'], `service "${raw.name}" gives both "port" and "ports"`, 'keep one: "port: 3000" or "ports: [3000, 8080]"', 'key'));
  } else if (raw.port === undefined && raw.ports === undefined) {
    errors.push(error(source, [...path, 'name'], `service "${raw.name}" has no port`, 'add "port: <1-65535>" or "ports: [...]"', 'key'));
  } else if (raw.port !== undefined) {
    ranges.push({ from: raw.port, to: raw.port });
  } else {
    (raw.ports ?? []).forEach((item, index) => {
      const parsed = parsePortItem(item);
      if ('error' in parsed) errors.push(error(source, [...path, 'ports', index], parsed.error));
      else ranges.push(parsed);
    });
  }
  if (raw.exe !== undefined) {
    const glob = parseExeGlob(raw.exe);
    if (!glob.ok) {
      const why = glob.beylaRejects ? 'Beyla cannot compile it' : 'refused';
      errors.push(error(source, [...path, 'exe'], `exe glob ${why}: at character ${glob.at}, ${glob.reason}`, EXE_HINT));
    }
  }
  const health = parseHealth(raw.health, opts.healthDefaults);
  const badPath = health.kind === 'http' ? badPathCharacter(health.path ?? '/') : undefined;
  if (badPath) {
    errors.push(error(source, [...path, 'health'], `health path "${health.path}" has ${badPath}: an HTTP request path cannot carry it`, 'percent-encode it (a space is %20)'));
  }
  if (health.kind !== 'none' && health.timeoutMs > health.intervalMs) {
    errors.push(error(source, [...path, 'health'], `health timeout (${health.timeoutMs}ms) is longer than its interval (${health.intervalMs}ms)`));
  }
  if (errors.length > 0) return { errors };
  const pos = locate(source, path, 'value');
  const service: Service = {
    name: raw.name,
    ports: mergeRanges(ranges),
    health,
    source: { file: source.file, line: pos.line, col: pos.col },
  };
  if (raw.exe !== undefined) service.exe = raw.exe;
  if (raw.type !== undefined) service.type = raw.type;
  return { service };
}
