// Every agent setting in one table: its key, type, default, environment variable and flag; and their resolution.
import { formatDuration, parseDuration } from './duration.js';
import type { Diagnostic, Origin } from './types.js';

export type SettingKind = 'duration' | 'boolean' | 'string' | 'integer' | 'enum' | 'object';

export interface SettingSpec {
  /** Dotted key in coral.yaml. */
  key: string;
  kind: SettingKind;
  default: unknown;
  env?: string;
  flag?: string;
  values?: readonly string[];
  /** For strings from the environment or a flag: the schema's pattern for the key, and what it means. */
  pattern?: { source: string; expected: string };
}

/** The one list of settings; docs/configuration.md documents each row. */
export const SETTINGS: readonly SettingSpec[] = [
  { key: 'agent.services_dir', kind: 'string', default: 'services.d', env: 'CORAL_SERVICES_DIR', flag: 'services-dir' },
  { key: 'agent.runtime_dir', kind: 'string', default: '/run/coral-agent', env: 'CORAL_RUNTIME_DIR' },
  { key: 'agent.log_level', kind: 'enum', default: 'info', env: 'CORAL_LOG_LEVEL', flag: 'log-level', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] },
  { key: 'agent.startup_timeout', kind: 'duration', default: 60_000, env: 'CORAL_STARTUP_TIMEOUT' },
  { key: 'agent.resync_interval', kind: 'duration', default: 180_000, env: 'CORAL_RESYNC_INTERVAL' },
  { key: 'agent.beyla.enabled', kind: 'boolean', default: true, env: 'CORAL_BEYLA_ENABLED' },
  { key: 'agent.beyla.binary', kind: 'string', default: 'beyla', env: 'CORAL_BEYLA_BINARY', flag: 'beyla-binary' },
  { key: 'agent.beyla.debounce', kind: 'duration', default: 5000, env: 'CORAL_BEYLA_DEBOUNCE' },
  { key: 'agent.beyla.max_wait', kind: 'duration', default: 30_000, env: 'CORAL_BEYLA_MAX_WAIT' },
  { key: 'agent.beyla.readiness.timeout', kind: 'duration', default: 45_000, env: 'CORAL_BEYLA_READINESS_TIMEOUT' },
  { key: 'agent.beyla.readiness.min_uptime', kind: 'duration', default: 1000, env: 'CORAL_BEYLA_MIN_UPTIME' },
  { key: 'agent.beyla.readiness.require_instrumented', kind: 'boolean', default: false },
  { key: 'agent.beyla.readiness.handover', kind: 'boolean', default: true, env: 'CORAL_BEYLA_HANDOVER' },
  { key: 'agent.beyla.shutdown_timeout', kind: 'duration', default: 10_000, env: 'CORAL_BEYLA_SHUTDOWN_TIMEOUT' },
  { key: 'agent.beyla.when_empty', kind: 'enum', default: 'stop', env: 'CORAL_BEYLA_WHEN_EMPTY', values: ['stop', 'all'] },
  { key: 'agent.beyla.config', kind: 'object', default: {} },
  { key: 'agent.beyla.env', kind: 'object', default: {} },
  { key: 'agent.metrics.listen', kind: 'string', default: '127.0.0.1:9464', env: 'CORAL_METRICS_LISTEN', flag: 'metrics-listen', pattern: { source: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]*):([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$', expected: 'host:port, [::1]:port or :port with a port of 0-65535' } },
  { key: 'agent.metrics.continuity', kind: 'boolean', default: true, env: 'CORAL_METRICS_CONTINUITY' },
  { key: 'agent.control.socket', kind: 'string', default: '/run/coral-agent/control.sock', env: 'CORAL_CONTROL_SOCKET', flag: 'control-socket', pattern: { source: '^/', expected: 'an absolute path' } },
  { key: 'agent.health.interval', kind: 'duration', default: 10_000, env: 'CORAL_HEALTH_INTERVAL' },
  { key: 'agent.health.timeout', kind: 'duration', default: 2000, env: 'CORAL_HEALTH_TIMEOUT' },
  { key: 'agent.health.unhealthy_threshold', kind: 'integer', default: 3 },
  { key: 'agent.health.healthy_threshold', kind: 'integer', default: 1 },
];

/** Turn an environment or flag string into the setting's type, or a reason it cannot be. */
export function convertSettingText(spec: SettingSpec, text: string): { value: unknown } | { error: string } {
  switch (spec.kind) {
    case 'duration': {
      const ms = parseDuration(text);
      return ms === undefined ? { error: `"${text}" is not a duration (e.g. "250ms", "5s", "1m30s")` } : { value: ms };
    }
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(text)) return { value: true };
      if (/^(0|false|no|off)$/i.test(text)) return { value: false };
      return { error: `"${text}" is not a boolean (true or false)` };
    case 'integer':
      return /^\d+$/.test(text) ? { value: Number(text) } : { error: `"${text}" is not a whole number` };
    case 'enum':
      return spec.values?.includes(text) ? { value: text } : { error: `"${text}" is not one of ${spec.values?.join(', ')}` };
    case 'string':
      if (text.length === 0) return { error: 'empty value' };
      if (spec.pattern && !new RegExp(spec.pattern.source).test(text)) return { error: `"${text}" is not ${spec.pattern.expected}` };
      return { value: text };
    case 'object':
      return { error: 'cannot be set from the environment or a flag' };
  }
}

/** A file value (already schema-valid) in the setting's internal form: durations become milliseconds. */
export function convertFileValue(spec: SettingSpec, value: unknown): unknown {
  if (spec.kind === 'duration' && typeof value === 'string') return parseDuration(value);
  return value;
}

export function displayValue(spec: SettingSpec, value: unknown): string {
  if (spec.kind === 'duration' && typeof value === 'number') return formatDuration(value);
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

export interface ResolveInput {
  /** Values from the main file by key, with their positions. */
  file: Map<string, { value: unknown; line: number; col: number }>;
  fileName: string;
  env: Readonly<Record<string, string | undefined>>;
  flags: Readonly<Record<string, string | undefined>>;
}

/** default < file < env < flag, each value with its origin. */
export function resolveSettings(input: ResolveInput): { values: Map<string, unknown>; origins: Record<string, Origin>; diagnostics: Diagnostic[] } {
  const values = new Map<string, unknown>();
  const origins: Record<string, Origin> = {};
  const diagnostics: Diagnostic[] = [];
  for (const spec of SETTINGS) {
    let value = spec.default;
    let origin: Origin = { kind: 'default' };
    const fromFile = input.file.get(spec.key);
    if (fromFile !== undefined) {
      value = convertFileValue(spec, fromFile.value);
      origin = { kind: 'file', name: input.fileName, line: fromFile.line, col: fromFile.col };
    }
    for (const [kind, name, text] of [
      ['env', spec.env, spec.env ? input.env[spec.env] : undefined],
      ['flag', spec.flag, spec.flag ? input.flags[spec.flag] : undefined],
    ] as const) {
      if (name === undefined || text === undefined) continue;
      const converted = convertSettingText(spec, text);
      const label = kind === 'env' ? `environment variable ${name}` : `flag --${name}`;
      if ('error' in converted) {
        diagnostics.push({ file: label, line: 0, col: 0, severity: 'error', message: `${spec.key}: ${converted.error}`, path: spec.key });
        continue;
      }
      value = converted.value;
      origin = { kind, name };
    }
    values.set(spec.key, value);
    origins[spec.key] = origin;
  }
  return { values, origins, diagnostics };
}
