// `coral services` (`coral ls`): every effective service with ports, source, health and whether Beyla instruments it.
import { formatRanges } from '../config/ports.js';
import type { PortRange, Service } from '../config/types.js';
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
A service whose file turned invalid is still listed, marked stale, with the file's error and
since when: the agent keeps running on the file's last good version. A port that is wanted but
not live yet says why (pending (beyla unavailable: ...), pending (swap failing: ...)).

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
  /** 'yes' | 'pending' | 'pending (why)' | 'no' | 'disabled' | 'unknown' (agent not running). */
  instrumented: string;
  /** Its file is invalid now: the agent runs on the file's last good version (this row), since `since`. */
  stale?: { file: string; since?: string; error?: string };
}

/** Why a wanted port is not live yet, when the agent says so: Beyla missing or failing, or swaps failing. */
function pendingWhy(status: AgentStatus): string {
  const b = status.beyla;
  const reason = b.reason?.split('\n', 1)[0];
  if (b.state === 'unavailable') return ` (beyla unavailable${reason ? `: ${reason}` : ''})`;
  if (b.lastSwap?.result === 'failed') return ` (swap failing: ${b.lastSwap.error ?? 'no reason given'})`;
  if (b.state === 'degraded') return ` (beyla degraded${reason ? `: ${reason}` : ''})`;
  return '';
}

function instrumentedOf(name: string, ports: readonly PortRange[], status: AgentStatus | undefined): string {
  if (!status) return 'unknown';
  if (status.beyla.state === 'disabled') return 'disabled';
  const applied = status.applied ? portsOf(status.applied.ports) : [];
  const active = status.beyla.instances.some((i) => i.role === 'active') || status.beyla.state === 'ready';
  if (active && coversPorts(applied, ports)) return 'yes';
  const desired = status.desired.services.find((s) => s.name === name);
  if (desired && coversPorts(portsOf(desired.ports), ports)) return `pending${pendingWhy(status)}`;
  return 'no';
}

function healthOf(kind: string, path: string | undefined, name: string, status: AgentStatus | undefined): ServiceRow['health'] {
  return {
    check: kind,
    ...(path ? { path } : {}),
    state: kind === 'none' ? 'off' : status ? status.health[name]?.state ?? 'unknown' : 'unknown',
  };
}

export function serviceRows(services: readonly Service[], status: AgentStatus | undefined): ServiceRow[] {
  const rows: ServiceRow[] = services.map((s) => ({
    name: s.name,
    ports: formatRanges(s.ports),
    ...(s.exe ? { exe: s.exe } : {}),
    ...(s.type ? { type: s.type } : {}),
    source: `${s.source.file}:${s.source.line}`,
    health: healthOf(s.health.kind, s.health.path, s.name, status),
    instrumented: instrumentedOf(s.name, s.ports, status),
  }));
  // A file that turned invalid contributes nothing to a fresh read, but the agent keeps its last
  // good services in effect: list them, marked stale, so nobody concludes they are not instrumented.
  for (const file of status?.rejected ?? []) {
    if (file.status !== 'stale') continue;
    for (const name of file.services) {
      if (rows.some((r) => r.name === name)) continue;
      const kept = status!.desired.services.find((s) => s.name === name);
      if (!kept) continue;
      const [check = 'tcp', ...rest] = (kept.health ?? 'tcp').split(':');
      const first = file.errors[0];
      rows.push({
        name,
        ports: kept.ports,
        source: kept.source ?? file.file,
        health: healthOf(check, rest.length > 0 ? rest.join(':') : undefined, name, status),
        instrumented: instrumentedOf(name, portsOf(kept.ports), status),
        stale: { file: file.file, ...(file.since ? { since: file.since } : {}), ...(first ? { error: `${first.file}:${first.line}:${first.col}: ${first.message}` } : {}) },
      });
    }
  }
  return rows;
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
      // The agent knows which invalid files still have a last good version in effect ('stale').
      rejected: snapshot.files.filter((f) => f.errors.length > 0).map((f) => {
        const seen = status?.rejected.find((r) => r.file === f.file);
        return { file: f.file, status: seen?.status ?? f.status, ...(seen?.since ? { since: seen.since } : {}), errors: f.errors };
      }),
      agent: status ? { running: true, state: status.state, beyla: status.beyla.state } : { running: false, error: agentError?.message },
    }, null, 2));
    return EXIT.OK;
  }
  if (rows.length === 0) {
    io.out(`No services. Add one with: coral connect NAME:PORT (drop-ins go to ${snapshot.settings.servicesDir})`);
  } else {
    const health = (r: ServiceRow): string => `${r.health.check}${r.health.path ? ` ${r.health.path}` : ''}${r.health.state === 'off' ? '' : `: ${r.health.state}`}`;
    const table = [['NAME', 'PORTS', 'SOURCE', 'HEALTH', 'INSTRUMENTED'], ...rows.map((r) => [r.name, r.ports, r.source, health(r), `${r.instrumented}${r.stale ? ', stale' : ''}`])];
    for (const line of formatTable(table)) io.out(line);
    for (const r of rows.filter((x) => x.stale)) {
      io.out(`stale: ${r.name} runs on the last good version of ${r.stale!.file}, invalid${r.stale!.since ? ` since ${r.stale!.since}` : ''}${r.stale!.error ? `: ${r.stale!.error}` : ''}`);
    }
  }
  for (const d of errors) io.err(formatDiagnostic(d));
  if (agentError) io.err(agentError.code === 'AGENT_UNAVAILABLE' ? 'coral-agent is not running: health and instrumentation are unknown' : `note: ${agentError.format()}`);
  return EXIT.OK;
}
