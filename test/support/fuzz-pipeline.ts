// The real pipeline pieces the fuzz tests drive (validators, default settings) and the FileResult contract they assert.
import assert from 'node:assert/strict';
import { parseMainConfig } from '../../src/config/parse-main.js';
import { compileValidators, type Validators } from '../../src/config/schema-validate.js';
import type { AgentSettings, FileResult, HealthDefaults, Origin } from '../../src/config/types.js';

export const MAIN_FILE = '/etc/coral/coral.yaml';
export const DROP_IN_DIR = '/etc/coral/services.d';

export interface Pipeline {
  validators: Validators;
  settings: AgentSettings;
  origins: Record<string, Origin>;
  healthDefaults: HealthDefaults;
}

/** Compile the schemas once and take every default setting from a real `agent: {}` coral.yaml. */
export function loadPipeline(): Pipeline {
  const validators = compileValidators();
  const main = parseMainConfig({ file: MAIN_FILE, bytes: new TextEncoder().encode('agent: {}\n'), validators, env: {} });
  assert.ok(main.result.ok, 'the default coral.yaml "agent: {}" must be valid');
  assert.deepEqual(main.settingErrors, []);
  return { validators, settings: main.settings, origins: main.origins, healthDefaults: main.settings.health };
}

const DNS_LABEL = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Lines of the file as an editor shows them (a newline byte is never part of a multi-byte sequence). */
function editorLines(bytes: Uint8Array): string[] {
  return new TextDecoder().decode(bytes).split('\n');
}

export interface ContractOptions {
  /**
   * Require the column of a YAML syntax error ("invalid YAML: ...") to lie inside its line (default true).
   * Off for hostile bytes: on some malformed streams the yaml package's LineCounter misses a line break,
   * shifting syntax errors (see the regression case in fuzz-parse-drop-in.test.ts). Every other position
   * is always checked.
   */
  syntaxErrorColumns?: boolean;
  /** Fewest services an accepted file defines: 1 for a drop-in (default), 0 for coral.yaml. */
  minServices?: number;
}

/**
 * The contract of parseDropIn's result for any input: ok with at least one well-formed service, or
 * errors that each name the file, a 1-based line (and column) inside it, and say something. A drop-in
 * has no whole-file position 0:0: even "file is empty" is reported at 1:1.
 */
export function assertFileResultContract(result: FileResult, input: { file: string; bytes: Uint8Array }, options: ContractOptions = {}): void {
  assert.equal(result.file, input.file);
  const lines = editorLines(input.bytes);
  const place = (what: string, line: number, col: number): void => {
    assert.ok(Number.isInteger(line) && line >= 1, `${what}: line ${line} is not a 1-based line`);
    assert.ok(Number.isInteger(col) && col >= 1, `${what}: col ${col} is not a 1-based column`);
    assert.ok(line <= lines.length, `${what}: line ${line} is past the end of a ${lines.length}-line file`);
    if (options.syntaxErrorColumns === false && what.startsWith('error "invalid YAML:')) return;
    const text = lines[line - 1] ?? '';
    assert.ok(col <= text.length + 1, `${what}: col ${col} is past the end of line ${line} (${text.length} characters)`);
  };
  if (!result.ok) {
    assert.ok(result.errors.length >= 1, 'a rejected file must say why');
    for (const error of result.errors) {
      assert.equal(error.file, input.file, 'an error names the file it is about');
      assert.equal(error.severity, 'error');
      assert.equal(typeof error.message, 'string');
      assert.ok(error.message.trim().length > 0, 'an error has a message');
      place(`error "${error.message}"`, error.line, error.col);
    }
    return;
  }
  assert.ok(result.services.length >= (options.minServices ?? 1), 'an accepted drop-in defines at least one service');
  const names = new Set<string>();
  const taken: { from: number; to: number; name: string }[] = [];
  for (const service of result.services) {
    assert.match(service.name, DNS_LABEL);
    assert.ok(!names.has(service.name), `service "${service.name}" appears twice in one accepted file`);
    names.add(service.name);
    assert.equal(service.source.file, input.file);
    place(`service "${service.name}"`, service.source.line, service.source.col);
    assert.ok(service.ports.length >= 1, `service "${service.name}" has no port`);
    service.ports.forEach((range, i) => {
      assert.ok(Number.isInteger(range.from) && Number.isInteger(range.to), 'ports are integers');
      assert.ok(range.from >= 1 && range.from <= range.to && range.to <= 65535, `range ${range.from}-${range.to} is not inside 1-65535`);
      const before = service.ports[i - 1];
      if (before) assert.ok(range.from > before.to + 1, `ranges of "${service.name}" are not sorted and merged`);
      for (const other of taken) {
        assert.ok(range.to < other.from || range.from > other.to, `"${service.name}" and "${other.name}" share a port in one accepted file`);
      }
    });
    taken.push(...service.ports.map((r) => ({ ...r, name: service.name })));
    assert.ok(['tcp', 'http', 'none'].includes(service.health.kind));
    assert.ok(Number.isFinite(service.health.intervalMs) && service.health.intervalMs >= 0);
    assert.ok(Number.isFinite(service.health.timeoutMs) && service.health.timeoutMs >= 0);
    if (service.health.kind !== 'none') assert.ok(service.health.timeoutMs <= service.health.intervalMs, 'health timeout longer than its interval was accepted');
    if (service.exe !== undefined) assert.ok(service.exe.length > 0);
  }
}

const DURATION_SETTINGS = ['startupTimeoutMs', 'resyncMs'] as const;
const BEYLA_DURATIONS = ['debounceMs', 'maxWaitMs', 'shutdownTimeoutMs'] as const;

/** Whatever coral.yaml and the environment say, the agent gets a complete, typed set of settings. */
export function assertCompleteSettings(settings: AgentSettings): void {
  const ms = (what: string, value: unknown) => assert.ok(typeof value === 'number' && Number.isFinite(value) && value >= 0, `${what} is ${String(value)}, not a duration in ms`);
  for (const key of DURATION_SETTINGS) ms(key, settings[key]);
  for (const key of BEYLA_DURATIONS) ms(`beyla.${key}`, settings.beyla[key]);
  ms('beyla.readiness.timeoutMs', settings.beyla.readiness.timeoutMs);
  ms('beyla.readiness.minUptimeMs', settings.beyla.readiness.minUptimeMs);
  ms('health.intervalMs', settings.health.intervalMs);
  ms('health.timeoutMs', settings.health.timeoutMs);
  assert.ok(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(settings.logLevel));
  assert.ok(['stop', 'all'].includes(settings.beyla.whenEmpty));
  assert.equal(typeof settings.beyla.enabled, 'boolean');
  assert.equal(typeof settings.beyla.readiness.requireInstrumented, 'boolean');
  for (const text of [settings.servicesDir, settings.runtimeDir, settings.beyla.binary, settings.metrics.listen, settings.control.socket]) {
    assert.ok(typeof text === 'string' && text.length > 0, 'a path or address setting is empty');
  }
  assert.ok(settings.servicesDir.startsWith('/'), `services_dir "${settings.servicesDir}" is not absolute`);
  for (const n of [settings.health.unhealthyThreshold, settings.health.healthyThreshold]) assert.ok(Number.isInteger(n) && n >= 0);
  assert.ok(typeof settings.beyla.config === 'object' && settings.beyla.config !== null && !Array.isArray(settings.beyla.config));
  assert.ok(typeof settings.beyla.env === 'object' && settings.beyla.env !== null && !Array.isArray(settings.beyla.env));
}
