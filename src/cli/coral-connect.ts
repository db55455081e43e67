// `coral connect NAME:PORT[:HEALTH][:TYPE]`: validate, check port and name conflicts, write services.d/NAME.yaml atomically under the lock.
import { join } from 'node:path';
import { parseDuration } from '../config/duration.js';
import { formatRanges } from '../config/ports.js';
import { parseDropIn } from '../config/parse-drop-in.js';
import { loadValidators } from '../config/schema-validate.js';
import { firstOverlap } from '../config/ports.js';
import type { HealthCheck, Service, Snapshot } from '../config/types.js';
import { CoralError, EXIT } from '../errors.js';
import { loadSnapshot } from '../store/load-snapshot.js';
import { lockServicesDir } from '../store/lock-services-dir.js';
import { writeDropIn } from '../store/write-drop-in.js';
import { CONFIG_OPTIONS, parse, SETTING_FLAGS, SETTING_FLAGS_HELP, settingFlags } from './args.js';
import { fetchAgentStatus, type AgentStatus } from './coral-fetch-status.js';
import { parseServiceSpec, renderDropIn, SPEC_SYNTAX } from './coral-service-spec.js';
import { loadCoralSettings, requireValidSettings } from './coral-settings.js';
import { waitLive } from './coral-wait-live.js';
import type { Io } from './io.js';

export const CONNECT_USAGE = `Usage: coral connect ${SPEC_SYNTAX.split(',')[0]} [options]
       coral connect NAME --ports 8080,9000-9010 [options]

Declare a service so that coral-agent health-checks it and Beyla instruments its ports.
Writes services.d/NAME.yaml atomically (under the directory's lock); the agent picks it up.
Connecting the same service again with the same settings changes nothing; with new settings
it replaces the file.

  NAME     lowercase DNS label (a-z, 0-9, '-'), unique on this host
  PORT     a port, a range 9000-9010, or a list 8080,9000-9010
  HEALTH   tcp (default), none, http (GET /) or http:/path
  TYPE     protocol hint: http, grpc, sql, redis, kafka, mongo, other

Options:
      --ports LIST        ports and ranges, instead of PORT in the spec
      --exe GLOB          only processes whose executable path matches, e.g. '*gunicorn*'
      --health CHECK      instead of HEALTH in the spec
      --type TYPE         instead of TYPE in the spec
      --replace           allow replacing a service of the same name defined in coral.yaml
      --wait              wait until Beyla instruments the ports (progress on stderr)
      --timeout DURATION  how long --wait waits (default 60s)
  -c, --config PATH       main file (default: $CORAL_CONFIG, else /etc/coral/coral.yaml);
                          services.d and the control socket follow from it
  -h, --help              show this help

${SETTING_FLAGS_HELP}

A service defined in coral.yaml is not replaced unless --replace is given; one defined in
another drop-in is never replaced (disconnect or edit it first). A port another service
claims is refused, naming the file and line that claims it.

Exit codes: 0 connected (or already connected), 64 usage, 65 invalid service or conflict,
66 no coral.yaml, 69 the agent is not running (with --wait) or Beyla unavailable,
70 Beyla failed to start with the new ports, 73 cannot create the file,
75 timed out (lock or --wait), 77 permission denied.`;

export interface ConnectOutcome {
  service: Service;
  path: string;
  changed: boolean;
  /** Ports the service had before (a reconnect with new ports). */
  previous?: Service;
  /** The coral.yaml definition replaced with --replace. */
  overridden?: Service;
}

function where(s: Service): string {
  return `${s.source.file}:${s.source.line}`;
}

function portWords(service: Service): string {
  const text = formatRanges(service.ports);
  return service.ports.length === 1 && service.ports[0]!.from === service.ports[0]!.to ? `port ${text}` : `ports ${text}`;
}

export function describeHealth(health: HealthCheck, service: Service): string {
  if (health.kind === 'none') return 'disabled (health: none)';
  if (health.kind === 'http') return `enabled (http ${health.path ?? '/'})`;
  return `enabled (tcp port ${service.ports[0]?.from ?? '?'})`;
}

/** Name and port conflicts with what is on disk now; throws INVALID_CONFIG naming the file and line. */
export function checkConflicts(opts: { snapshot: Snapshot; service: Service; path: string; replace: boolean }): { previous?: Service; overridden?: Service } {
  const { snapshot, service, path } = opts;
  const mainFile = snapshot.settings.configPath;
  let previous: Service | undefined;
  let overridden: Service | undefined;
  for (const file of snapshot.files) {
    if (file.file === path) {
      const others = file.services.filter((s) => s.name !== service.name).map((s) => s.name);
      if (others.length > 0) {
        throw new CoralError('INVALID_CONFIG', `${path} also defines ${others.map((n) => `"${n}"`).join(', ')}: it was not written by coral connect`, {
          hint: 'edit that file by hand, or move those services to their own files', details: { path },
        });
      }
      previous = file.services.find((s) => s.name === service.name);
      continue;
    }
    const same = file.services.find((s) => s.name === service.name);
    if (!same) continue;
    if (file.file === mainFile && opts.replace) {
      overridden = same;
      continue;
    }
    throw new CoralError('INVALID_CONFIG', `service "${service.name}" is already defined in ${where(same)}`, {
      hint: file.file === mainFile
        ? 'pass --replace to override it with a drop-in (disconnecting brings the coral.yaml definition back), or edit coral.yaml'
        : `edit or remove ${file.file} first`,
      details: { path: file.file, line: same.source.line },
    });
  }
  for (const other of snapshot.services) {
    if (other.name === service.name) continue;
    const port = firstOverlap(service.ports, other.ports);
    if (port === undefined) continue;
    throw new CoralError('INVALID_CONFIG', `port ${port} is already claimed by service "${other.name}" (${where(other)})`, {
      hint: `each port belongs to one service: pick another port, or disconnect ${other.name} first`,
      details: { path: other.source.file, line: other.source.line, port },
    });
  }
  return { ...(previous ? { previous } : {}), ...(overridden ? { overridden } : {}) };
}

function beylaLine(status: AgentStatus, debounceMs: number, changed: boolean): string {
  const beyla = status.beyla;
  if (beyla.state === 'disabled') return `eBPF metrics: disabled (${beyla.reason ?? 'agent.beyla.enabled is false'})`;
  if (beyla.state === 'unavailable') return `eBPF metrics: unavailable (${beyla.reason ?? 'Beyla cannot run'})`;
  if (!changed) return `eBPF metrics: enabled (Beyla ${beyla.state}${beyla.generation === undefined ? '' : `, generation ${beyla.generation}`})`;
  return `eBPF metrics: enabled (Beyla restart scheduled in ${Math.round(debounceMs / 100) / 10}s)`;
}

export async function connect(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    ...CONFIG_OPTIONS, ...SETTING_FLAGS,
    ports: { type: 'string' }, exe: { type: 'string' }, health: { type: 'string' }, type: { type: 'string' },
    replace: { type: 'boolean' }, wait: { type: 'boolean' }, timeout: { type: 'string' },
  }, CONNECT_USAGE);
  if (values.help) {
    io.out(CONNECT_USAGE);
    return EXIT.OK;
  }
  if (positionals.length !== 1) {
    throw new CoralError('USAGE', positionals.length === 0 ? 'which service? give NAME:PORT' : `one service at a time (got ${positionals.length}: ${positionals.join(' ')})`, { hint: `coral connect ${SPEC_SYNTAX}` });
  }
  const timeoutMs = typeof values.timeout === 'string' ? parseDuration(values.timeout) : 60_000;
  if (timeoutMs === undefined) throw new CoralError('USAGE', `--timeout: "${String(values.timeout)}" is not a duration`, { hint: 'e.g. --timeout 30s' });
  const spec = parseServiceSpec(positionals[0]!, {
    ports: values.ports as string | undefined, exe: values.exe as string | undefined,
    health: values.health as string | undefined, type: values.type as string | undefined,
  });
  const text = renderDropIn(spec);

  const validators = (await loadValidators());
  const flags = settingFlags(values);
  const configPath = values.config as string | undefined;
  const main = await loadCoralSettings({ configPath, env: io.env, flags, validators });
  requireValidSettings(main);
  const { settings } = main;
  const parsed = parseDropIn({ file: 'coral connect', bytes: new TextEncoder().encode(text), validators, healthDefaults: settings.health });
  if (!parsed.ok) {
    const problems = parsed.errors.map((d) => `  ${d.message}${d.hint ? ` (${d.hint})` : ''}`).join('\n');
    throw new CoralError('INVALID_CONFIG', `invalid service "${spec.name}":\n${problems}`, { hint: `coral connect ${SPEC_SYNTAX}` });
  }
  const dir = settings.servicesDir;
  const fileName = `${spec.name}.yaml`; // the name is a DNS label now (schema-checked above)
  const path = join(dir, fileName);

  const outcome: ConnectOutcome = await lockServicesDir({ dir, create: true }, async (lost) => {
    const { snapshot } = await loadSnapshot({ configPath, env: io.env, flags, validators });
    const service = { ...parsed.services[0]!, source: { file: path, line: 2, col: 1 } };
    const found = checkConflicts({ snapshot, service, path, replace: values.replace === true });
    const written = await writeDropIn({ dir, fileName, text, signal: lost });
    return { service, path: written.path, changed: written.changed, ...found };
  });

  const { service } = outcome;
  if (!outcome.changed) {
    io.out(`Service ${service.name} is already connected on ${portWords(service)} (${outcome.path} unchanged)`);
  } else if (outcome.previous) {
    const was = formatRanges(outcome.previous.ports) === formatRanges(service.ports) ? '' : ` (was ${portWords(outcome.previous)})`;
    io.out(`Updated service ${service.name} on ${portWords(service)}${was}`);
  } else {
    io.out(`Connected service ${service.name} on ${portWords(service)}`);
  }
  if (outcome.overridden) io.err(`warning: this replaces the definition of "${service.name}" in ${where(outcome.overridden)} while ${outcome.path} exists`);
  io.out(`Health monitoring: ${describeHealth(service.health, service)}`);

  const socketPath = settings.control.socket;
  let status: AgentStatus;
  try {
    status = await fetchAgentStatus({ socketPath, timeoutMs: 2000 });
  } catch (error) {
    if (error instanceof CoralError && error.code === 'AGENT_UNAVAILABLE') {
      const line = 'coral-agent is not running: the service is saved and will be instrumented when it starts';
      if (!values.wait) {
        io.out(line);
        return EXIT.OK;
      }
      throw new CoralError('AGENT_UNAVAILABLE', `${line}; nothing to wait for`, { hint: 'start it with: systemctl start coral-agent', cause: error });
    }
    if (values.wait) throw error;
    io.err(`note: the service is saved, but coral-agent's state is unknown: ${error instanceof CoralError ? error.format() : String(error)}`);
    return EXIT.OK;
  }
  io.out(beylaLine(status, settings.beyla.debounceMs, outcome.changed));
  if (!values.wait) return EXIT.OK;
  const result = await waitLive({ socketPath, name: service.name, ports: service.ports, file: outcome.path, timeoutMs, io });
  io.out(`Instrumented: ${portWords(service)} live in Beyla${result.beylaGeneration === undefined ? '' : ` generation ${result.beylaGeneration}`} (after ${(result.elapsedMs / 1000).toFixed(1)}s)`);
  return EXIT.OK;
}
