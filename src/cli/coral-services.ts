// `coral services` (`coral ls`): every effective service with ports, source, health and whether Beyla instruments it.
import { formatRanges } from '../config/ports.js';
import type { Service } from '../config/types.js';
import { CoralError, EXIT } from '../errors.js';
import { loadSnapshot } from '../store/load-snapshot.js';
import { CONFIG_OPTIONS, parse, SETTING_FLAGS, SETTING_FLAGS_HELP, settingFlags } from './args.js';
import { coversPorts, fetchAgentStatus, portsOf, type AgentStatus } from './coral-fetch-status.js';
import { formatDiagnostic } from './format-diagnostic.js';
import type { Io } from './io.js';

export const SERVICES_USAGE = `Usage: coral services [--config PATH] [--json]
       coral ls

List the services from coral.yaml and services.d as coral-agent would merge them: name, ports,
the file and line that define them, their health (as the running agent reports it), and
whether the running Beyla instruments their ports. Files that are rejected are listed on stderr.

Options:
  -c, --config PATH   main file (default: $CORAL_CONFIG, else /etc/coral/coral.yaml)
      --json          print {services: [...], rejected: [...], agent: {...}} as JSON
  -h, --help          show this help

${SETTING_FLAGS_HELP}

Exit codes: 0 listed (the agent need not be running), 64 usage, 66 no coral.yaml,
77 permission denied.`;

export interface ServiceRow {
  name: string;
  ports: string;
  exe?: string;
  type?: string;
  source: string;
  health: { check: string; path?: string; state: string };
  /** 'yes' | 'pending' | 'no' | 'disabled' | 'unknown' (agent not running). */
  instrumented: string;
}

function instrumentedOf(service: Service, status: AgentStatus | undefined): string {
  if (!status) return 'unknown';
  if (status.beyla.state === 'disabled') return 'disabled';
  const applied = status.applied ? portsOf(status.applied.ports) : [];
  const active = status.beyla.instances.some((i) => i.role === 'active') || status.beyla.state === 'ready';
  if (active && coversPorts(applied, service.ports)) return 'yes';
  const desired = status.desired.services.find((s) => s.name === service.name);
  if (desired && coversPorts(portsOf(desired.ports), service.ports)) return 'pending';
  return 'no';
}

export function serviceRows(services: readonly Service[], status: AgentStatus | undefined): ServiceRow[] {
  return services.map((s) => ({
    name: s.name,
    ports: formatRanges(s.ports),
    ...(s.exe ? { exe: s.exe } : {}),
    ...(s.type ? { type: s.type } : {}),
    source: `${s.source.file}:${s.source.line}`,
    health: {
      check: s.health.kind,
      ...(s.health.path ? { path: s.health.path } : {}),
      state: s.health.kind === 'none' ? 'off' : status ? status.health[s.name]?.state ?? 'unknown' : 'unknown',
    },
    instrumented: instrumentedOf(s, status),
  }));
}

export function formatTable(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

export async function services(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, { ...CONFIG_OPTIONS, ...SETTING_FLAGS, json: { type: 'boolean' } }, SERVICES_USAGE, { maxPositionals: 0 });
  if (values.help) {
    io.out(SERVICES_USAGE);
    return EXIT.OK;
  }
  const { snapshot } = await loadSnapshot({ configPath: values.config as string | undefined, env: io.env, flags: settingFlags(values) });
  let status: AgentStatus | undefined;
  let agentError: CoralError | undefined;
  try {
    status = await fetchAgentStatus({ socketPath: snapshot.settings.control.socket, timeoutMs: 2000 });
  } catch (error) {
    if (!(error instanceof CoralError)) throw error;
    agentError = error;
  }
  const rows = serviceRows(snapshot.services, status);
  const errors = snapshot.diagnostics.filter((d) => d.severity === 'error');
  if (values.json) {
    io.out(JSON.stringify({
      services: rows,
      rejected: snapshot.files.filter((f) => f.errors.length > 0).map((f) => ({ file: f.file, status: f.status, errors: f.errors })),
      agent: status ? { running: true, state: status.state, beyla: status.beyla.state } : { running: false, error: agentError?.message },
    }, null, 2));
    return EXIT.OK;
  }
  if (rows.length === 0) {
    io.out(`No services. Add one with: coral connect NAME:PORT (drop-ins go to ${snapshot.settings.servicesDir})`);
  } else {
    const health = (r: ServiceRow): string => `${r.health.check}${r.health.path ? ` ${r.health.path}` : ''}${r.health.state === 'off' ? '' : `: ${r.health.state}`}`;
    const table = [['NAME', 'PORTS', 'SOURCE', 'HEALTH', 'INSTRUMENTED'], ...rows.map((r) => [r.name, r.ports, r.source, health(r), r.instrumented])];
    for (const line of formatTable(table)) io.out(line);
  }
  for (const d of errors) io.err(formatDiagnostic(d));
  if (agentError) io.err(agentError.code === 'AGENT_UNAVAILABLE' ? 'coral-agent is not running: health and instrumentation are unknown' : `note: ${agentError.format()}`);
  return EXIT.OK;
}
