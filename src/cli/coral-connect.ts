// `coral connect NAME:PORT[:HEALTH][:TYPE]`: validate, check port and name conflicts, write services.d/NAME.yaml atomically under the lock.
import { join } from 'node:path';
import { parseDuration } from '../config/duration.js';
import { parseDropIn } from '../config/parse-drop-in.js';
import { loadValidators } from '../config/schema-validate.js';
import { CoralError, EXIT } from '../errors.js';
import { checkConflicts, connectUnderLock, type ConnectOutcome } from '../store/edit-services.js';
import { loadSnapshot } from '../store/load-snapshot.js';
import { ServicesIndex } from '../store/services-index.js';
import { lockServicesDir } from '../store/lock-services-dir.js';
import { CONNECT_OPTIONS, parse, SETTING_FLAGS_HELP, settingFlags } from './args.js';
import { askAgentToEdit } from './ask-agent-to-edit.js';
import { fetchAgentStatus } from './coral-fetch-status.js';
import { beylaLine, portWords, reportConnect, type BeylaBrief } from './connect-report.js';
import { parseServiceSpec, renderDropIn, SPEC_SYNTAX } from './coral-service-spec.js';
import { loadCoralSettings, requireValidSettings } from './coral-settings.js';
import { waitLive, waitResultLine } from './coral-wait-live.js';
import type { Io } from './io.js';

export const CONNECT_USAGE = `Usage: coral connect ${SPEC_SYNTAX.split(',')[0]} [options]
       coral connect NAME --ports 8080,9000-9010 [options]

Declare a service so that coral-agent health-checks it and Beyla instruments its ports.
Writes services.d/NAME.yaml atomically (under the directory's lock); the agent picks it up.
Connecting the same service again with the same settings changes nothing; with new settings
it replaces the file and says every field that changes (ports, exe, health, type): a field
not given again is dropped, as the file is written anew from this command line.
When coral-agent runs, it does the check and the write (it holds every drop-in in memory);
otherwise this command reads services.d itself.

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
      --force             replace services.d/NAME.yaml even if coral connect did not write
                          it (edited by hand) or it is invalid
      --wait              wait until the active Beyla instruments every process listening
                          on the ports (progress on stderr); ports nothing listens on yet
                          are waited for until Beyla selects them, and said so
      --timeout DURATION  how long --wait waits (default 60s)
  -c, --config PATH       main file (default: $CORAL_CONFIG, else /etc/coral/coral.yaml);
                          services.d and the control socket follow from it
  -h, --help              show this help

${SETTING_FLAGS_HELP}

A service defined in coral.yaml is not replaced unless --replace is given; one defined in
another drop-in is never replaced (disconnect or edit it first). A port another service
claims is refused, naming the file and line that claims it. NAME.yaml itself is replaced only
if coral connect wrote it (its first line says so) and it is valid, unless --force is given.

Exit codes: 0 connected (or already connected), 64 usage, 65 invalid service, conflict, or
NAME.yaml not written by coral connect (without --force),
66 no coral.yaml, 69 the agent is not running (with --wait) or Beyla unavailable,
70 Beyla failed to start with the new ports, 73 cannot create the file,
75 timed out (lock, or --wait: the message names the processes not instrumented yet),
77 permission denied.`;

export { checkConflicts, type ConnectOutcome };

export async function connect(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, CONNECT_OPTIONS, CONNECT_USAGE);
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

  const service = { ...parsed.services[0]!, source: { file: path, line: 2, col: 1 } };
  const replace = values.replace === true;
  const force = values.force === true;
  const socketPath = settings.control.socket;
  const viaAgent = await askAgentToEdit({ socketPath, path: '/v1/connect', body: { servicesDir: dir, configPath: settings.configPath, text, replace, force } });
  const outcome: ConnectOutcome = viaAgent
    ? viaAgent.body.outcome as ConnectOutcome
    : await lockServicesDir({ dir, create: true }, (lost) => connectUnderLock({
      dir, fileName, text, service, replace, force, validators, healthDefaults: settings.health, lost,
      view: async () => ServicesIndex.of((await loadSnapshot({ configPath, env: io.env, flags, validators })).snapshot),
    }));

  reportConnect(io, service, outcome);

  let status: { beyla: BeylaBrief };
  try {
    status = viaAgent ?? await fetchAgentStatus({ socketPath, timeoutMs: 2000 });
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
  io.out(beylaLine(status.beyla, viaAgent?.debounceMs ?? settings.beyla.debounceMs, outcome.changed));
  if (!values.wait) return EXIT.OK;
  const result = await waitLive({ socketPath, name: service.name, ports: service.ports, file: outcome.path, timeoutMs, io });
  io.out(waitResultLine(result, portWords(service)));
  return EXIT.OK;
}
