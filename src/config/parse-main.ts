// coral.yaml's bytes + environment + flags -> agent settings with origins, and the file's own services.
import { dirname, isAbsolute, resolve } from 'node:path';
import { checkBeylaEnv } from './check-beyla-env.js';
import { checkBeylaPassthrough, type PassthroughFinding } from './check-beyla-passthrough.js';
import { planOtlpRelay } from '../plan/plan-otlp-relay.js';
import { buildServices } from './parse-drop-in.js';
import type { RawService } from './parse-service.js';
import { validateWith, type Validators } from './schema-validate.js';
import { resolveSettings, SETTINGS } from './settings.js';
import type { AgentSettings, Diagnostic, FileResult, HealthDefaults, Origin } from './types.js';
import { decodeUtf8, locate, parseYaml, type YamlSource } from './yaml-text.js';

export interface ParseMainOptions {
  /** Absolute path of coral.yaml. */
  file: string;
  bytes: Uint8Array;
  validators: Validators;
  env: Readonly<Record<string, string | undefined>>;
  flags?: Readonly<Record<string, string | undefined>>;
}

export interface MainResult {
  /** Settings from defaults, the file (when valid), env and flags. */
  settings: AgentSettings;
  origins: Record<string, Origin>;
  /** The file's own result: its services, or why it is rejected. */
  result: FileResult;
  /** Problems with environment variables or flags (the file's own are in `result`). */
  settingErrors: Diagnostic[];
}

function getPath(value: unknown, key: string): unknown {
  let node: unknown = value;
  for (const part of key.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function buildSettings(file: string, values: Map<string, unknown>): AgentSettings {
  const get = <T>(key: string): T => values.get(key) as T;
  const servicesDir = get<string>('agent.services_dir');
  return {
    configPath: file,
    servicesDir: isAbsolute(servicesDir) ? servicesDir : resolve(dirname(file), servicesDir),
    runtimeDir: get('agent.runtime_dir'),
    startupTimeoutMs: get('agent.startup_timeout'),
    resyncMs: get('agent.resync_interval'),
    logLevel: get('agent.log_level'),
    beyla: {
      enabled: get('agent.beyla.enabled'),
      binary: get('agent.beyla.binary'),
      debounceMs: get('agent.beyla.debounce'),
      maxWaitMs: get('agent.beyla.max_wait'),
      readiness: {
        timeoutMs: get('agent.beyla.readiness.timeout'),
        minUptimeMs: get('agent.beyla.readiness.min_uptime'),
        requireInstrumented: get('agent.beyla.readiness.require_instrumented'),
        handover: get('agent.beyla.readiness.handover'),
      },
      shutdownTimeoutMs: get('agent.beyla.shutdown_timeout'),
      whenEmpty: get('agent.beyla.when_empty'),
      config: get('agent.beyla.config'),
      env: get('agent.beyla.env'),
    },
    metrics: { listen: get('agent.metrics.listen'), continuity: get('agent.metrics.continuity') },
    control: { socket: get('agent.control.socket') },
    health: {
      intervalMs: get('agent.health.interval'),
      timeoutMs: get('agent.health.timeout'),
      unhealthyThreshold: get('agent.health.unhealthy_threshold'),
      healthyThreshold: get('agent.health.healthy_threshold'),
    },
  };
}

function fileValues(source: YamlSource | undefined): Map<string, { value: unknown; line: number; col: number }> {
  const out = new Map<string, { value: unknown; line: number; col: number }>();
  if (!source) return out;
  for (const spec of SETTINGS) {
    const value = getPath(source.value, spec.key);
    if (value === undefined) continue;
    const pos = locate(source, spec.key.split('.'));
    out.set(spec.key, { value, line: pos.line, col: pos.col });
  }
  return out;
}

/** agent.beyla.config's problems (refused keys, __proto__, unknown keys), each placed at its key. */
function passthroughDiagnostics(source: YamlSource): Diagnostic[] {
  const place = (key: 'config' | 'env', findings: PassthroughFinding[]): Diagnostic[] => findings.map((finding) => {
    const segments = finding.path.map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    const pos = locate(source, ['agent', 'beyla', key, ...segments], finding.at);
    return {
      file: source.file, line: pos.line, col: pos.col, severity: finding.severity,
      path: [`agent.beyla.${key}`, ...finding.path].join('.'), message: finding.message,
      ...(finding.hint ? { hint: finding.hint } : {}),
    };
  });
  return [
    ...place('config', checkBeylaPassthrough(getPath(source.value, 'agent.beyla.config'))),
    ...place('env', checkBeylaEnv(getPath(source.value, 'agent.beyla.env'))),
    ...otlpDiagnostics(source),
  ];
}

/** An OTLP export the agent cannot relay (gRPC, an endpoint that is no URL), placed at the setting that asks for it. */
function otlpDiagnostics(source: YamlSource): Diagnostic[] {
  const mapping = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {});
  const env = Object.fromEntries(Object.entries(mapping(getPath(source.value, 'agent.beyla.env'))).filter((e): e is [string, string] => typeof e[1] === 'string'));
  const plan = planOtlpRelay({ env, config: mapping(getPath(source.value, 'agent.beyla.config')) });
  if (plan.kind !== 'refused') return [];
  const where = plan.source ?? { in: 'env' as const, path: [] };
  const pos = locate(source, ['agent', 'beyla', where.in, ...where.path]);
  return [{ file: source.file, line: pos.line, col: pos.col, severity: 'error', path: [`agent.beyla.${where.in}`, ...where.path].join('.'), message: plan.message, hint: plan.hint }];
}

export function parseMainConfig(opts: ParseMainOptions): MainResult {
  const { file } = opts;
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  let source: YamlSource | undefined;
  const decoded = decodeUtf8(file, opts.bytes);
  if ('error' in decoded) {
    errors.push(decoded.error);
  } else {
    const parsed = parseYaml(file, decoded.text);
    if ('errors' in parsed) errors.push(...parsed.errors);
    else if (parsed.source.value === null || parsed.source.value === undefined) {
      errors.push({ file, line: 1, col: 1, severity: 'error', message: 'file is empty', hint: 'write "agent: {}" for all defaults' });
    } else {
      source = parsed.source;
      errors.push(...validateWith(opts.validators.main, source.value, source));
      if (errors.length === 0) {
        for (const d of passthroughDiagnostics(source)) (d.severity === 'error' ? errors : warnings).push(d);
      }
    }
  }
  const valid = errors.length === 0 ? source : undefined;
  const resolved = resolveSettings({ file: fileValues(valid), fileName: file, env: opts.env, flags: opts.flags ?? {} });
  const settings = buildSettings(file, resolved.values);
  if (!valid) {
    return { settings, origins: resolved.origins, result: { file, ok: false, errors }, settingErrors: resolved.diagnostics };
  }
  const rawServices = (getPath(valid.value, 'agent.services') as RawService[] | undefined) ?? [];
  const built = buildServices(valid, rawServices.map((raw, i) => ({ raw, path: ['agent', 'services', i] })), settings.health as HealthDefaults);
  const result: FileResult = built.errors.length > 0
    ? { file, ok: false, errors: built.errors }
    : { file, ok: true, services: built.services, warnings };
  return { settings, origins: resolved.origins, result, settingErrors: resolved.diagnostics };
}
