// `coral-agent config show`: the effective configuration, and with --sources where each value came from.
import { displayValue, SETTINGS } from '../config/settings.js';
import { formatRanges } from '../config/ports.js';
import type { Origin } from '../config/types.js';
import { EXIT } from '../errors.js';
import { loadSnapshot } from '../store/load-snapshot.js';
import { CONFIG_OPTIONS, parse, SETTING_FLAGS, SETTING_FLAGS_HELP, settingFlags } from './args.js';
import { formatDiagnostic } from './format-diagnostic.js';
import type { Io } from './io.js';

export const CONFIG_SHOW_USAGE = `Usage: coral-agent config show [--config PATH] [--json] [--sources]

Print the effective configuration: defaults, then coral.yaml, then CORAL_* environment
variables, then flags (each later one wins), and the services from coral.yaml and services.d.

Options:
  -c, --config PATH   main file (default: $CORAL_CONFIG, else /etc/coral/coral.yaml)
      --sources       show where each value comes from (default, file:line:col, env, flag)
      --json          print as JSON ({settings, sources, services})
  -h, --help          show this help

${SETTING_FLAGS_HELP}

Exit codes: 0 shown (even with invalid files: they are reported on stderr), 66 main file missing, 64 usage.`;

export function formatOrigin(origin: Origin | undefined): string {
  if (!origin) return 'default';
  switch (origin.kind) {
    case 'default': return 'default';
    case 'file': return `${origin.name}:${origin.line}:${origin.col}`;
    case 'env': return `env ${origin.name}`;
    case 'flag': return `flag --${origin.name}`;
  }
}

function setNested(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = value;
}

export async function configShow(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, { ...CONFIG_OPTIONS, ...SETTING_FLAGS, json: { type: 'boolean' }, sources: { type: 'boolean' } }, CONFIG_SHOW_USAGE, { maxPositionals: 0 });
  if (values.help) {
    io.out(CONFIG_SHOW_USAGE);
    return EXIT.OK;
  }
  const { snapshot } = await loadSnapshot({ configPath: values.config as string | undefined, env: io.env, flags: settingFlags(values) });
  for (const d of snapshot.diagnostics.filter((x) => x.severity === 'error')) io.err(formatDiagnostic(d));
  const { settings, origins } = snapshot;
  const effective: Record<string, unknown> = {
    config: settings.configPath,
    'agent.services_dir': settings.servicesDir,
  };
  for (const spec of SETTINGS) {
    if (spec.key === 'agent.services_dir') continue;
    effective[spec.key] = readSetting(settings, spec.key);
  }
  if (values.json) {
    const nested: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(effective)) setNested(nested, key, value);
    const sources = Object.fromEntries(Object.keys(effective).map((k) => [k, origins[k] ?? { kind: 'default' }]));
    io.out(JSON.stringify({ settings: nested, ...(values.sources ? { sources } : {}), services: snapshot.services }, null, 2));
    return EXIT.OK;
  }
  const lines: [string, string][] = Object.entries(effective).map(([key, value]) => {
    const spec = SETTINGS.find((s) => s.key === key);
    return [`${key}: ${spec ? displayValue(spec, value) : String(value)}`, formatOrigin(origins[key])];
  });
  const width = Math.max(...lines.map(([text]) => text.length));
  for (const [text, origin] of lines) io.out(values.sources ? `${text.padEnd(width)}  # ${origin}` : text);
  io.out('services:');
  if (snapshot.services.length === 0) io.out('  (none)');
  for (const s of snapshot.services) {
    const text = `  - ${s.name}: ports ${formatRanges(s.ports)}${s.exe ? `, exe ${s.exe}` : ''}, health ${s.health.kind}${s.health.path ? ` ${s.health.path}` : ''}`;
    io.out(values.sources ? `${text}  # ${s.source.file}:${s.source.line}:${s.source.col}` : text);
  }
  return EXIT.OK;
}

/** The typed settings by dotted key, in the units the file uses (durations in ms). */
function readSetting(settings: import('../config/types.js').AgentSettings, key: string): unknown {
  const map: Record<string, unknown> = {
    'agent.runtime_dir': settings.runtimeDir,
    'agent.log_level': settings.logLevel,
    'agent.startup_timeout': settings.startupTimeoutMs,
    'agent.resync_interval': settings.resyncMs,
    'agent.beyla.enabled': settings.beyla.enabled,
    'agent.beyla.binary': settings.beyla.binary,
    'agent.beyla.debounce': settings.beyla.debounceMs,
    'agent.beyla.max_wait': settings.beyla.maxWaitMs,
    'agent.beyla.readiness.timeout': settings.beyla.readiness.timeoutMs,
    'agent.beyla.readiness.min_uptime': settings.beyla.readiness.minUptimeMs,
    'agent.beyla.readiness.require_instrumented': settings.beyla.readiness.requireInstrumented,
    'agent.beyla.shutdown_timeout': settings.beyla.shutdownTimeoutMs,
    'agent.beyla.when_empty': settings.beyla.whenEmpty,
    'agent.beyla.config': settings.beyla.config,
    'agent.beyla.env': settings.beyla.env,
    'agent.metrics.listen': settings.metrics.listen,
    'agent.control.socket': settings.control.socket,
    'agent.health.interval': settings.health.intervalMs,
    'agent.health.timeout': settings.health.timeoutMs,
    'agent.health.unhealthy_threshold': settings.health.unhealthyThreshold,
    'agent.health.healthy_threshold': settings.health.healthyThreshold,
  };
  return map[key];
}
