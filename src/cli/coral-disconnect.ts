// `coral disconnect NAME`: remove services.d/NAME.yaml under the lock; services defined elsewhere are refused with their file and line.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadValidators } from '../config/schema-validate.js';
import { CoralError, EXIT, isErrno } from '../errors.js';
import { disconnectUnderLock, planDisconnect, type DisconnectVerdict } from '../store/edit-services.js';
import { loadSnapshot } from '../store/load-snapshot.js';
import { ServicesIndex } from '../store/services-index.js';
import { lockServicesDir, storeError } from '../store/lock-services-dir.js';
import { CONFIG_OPTIONS, parse, SETTING_FLAGS, SETTING_FLAGS_HELP, settingFlags } from './args.js';
import { askAgentToEdit } from './ask-agent-to-edit.js';
import { fetchAgentStatus } from './coral-fetch-status.js';
import { disconnectBeylaLine, reportDisconnect } from './connect-report.js';
import { isServiceName } from './coral-service-spec.js';
import { loadCoralSettings, requireValidSettings } from './coral-settings.js';
import type { Io } from './io.js';

export const DISCONNECT_USAGE = `Usage: coral disconnect NAME [--config PATH]

Remove a service that coral connect added (services.d/NAME.yaml, under the directory's lock).
coral-agent stops health-checking it and Beyla stops instrumenting its ports at the next swap.
Disconnecting a service that is not connected changes nothing and succeeds.

A service defined in coral.yaml, or in a drop-in that holds other services, is refused with the
file and line that define it: edit that file instead.

Options:
  -c, --config PATH   main file (default: $CORAL_CONFIG, else /etc/coral/coral.yaml)
  -h, --help          show this help

${SETTING_FLAGS_HELP}

Exit codes: 0 disconnected (or not connected), 64 usage, 65 not a service name, defined
elsewhere (not removable here) or the configuration is invalid, 66 no coral.yaml, 73 cannot remove, 75 lock busy,
77 permission denied.`;

type Verdict = DisconnectVerdict;
export { planDisconnect };

/** Without the agent: decide on a fresh read of every drop-in, under the lock when the directory exists. */
async function disconnectDirectly(opts: { dir: string; name: string; view: Parameters<typeof disconnectUnderLock>[0]['view'] }): Promise<{ verdict: Verdict; removed: boolean }> {
  try {
    await stat(opts.dir);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw storeError(error, 'read', opts.dir);
    return { verdict: planDisconnect(await opts.view(), opts.name), removed: false };
  }
  return lockServicesDir({ dir: opts.dir }, (lost) => disconnectUnderLock({ ...opts, lost }));
}

export async function disconnect(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { ...CONFIG_OPTIONS, ...SETTING_FLAGS }, DISCONNECT_USAGE);
  if (values.help) {
    io.out(DISCONNECT_USAGE);
    return EXIT.OK;
  }
  if (positionals.length !== 1) {
    throw new CoralError('USAGE', positionals.length === 0 ? 'which service? give its NAME' : `one service at a time (got ${positionals.length}: ${positionals.join(' ')})`, { hint: 'coral disconnect NAME' });
  }
  const name = positionals[0]!;
  if (!isServiceName(name)) {
    // The same code as coral connect gives the same invalid name: 65.
    throw new CoralError('INVALID_CONFIG', `invalid service name "${name}"`, { hint: 'a service name is a lowercase DNS label (a-z, 0-9, \'-\'); see: coral services' });
  }
  const validators = (await loadValidators());
  const flags = settingFlags(values);
  const configPath = values.config as string | undefined;
  const main = await loadCoralSettings({ configPath, env: io.env, flags, validators });
  requireValidSettings(main);
  const dir = main.settings.servicesDir;

  const socketPath = main.settings.control.socket;
  const viaAgent = await askAgentToEdit({ socketPath, path: '/v1/disconnect', body: { servicesDir: dir, configPath: main.settings.configPath, name } });
  const { verdict, removed } = viaAgent
    ? { verdict: viaAgent.body.verdict as Verdict, removed: viaAgent.body.removed === true }
    : await disconnectDirectly({ dir, name, view: async () => ServicesIndex.of((await loadSnapshot({ configPath, env: io.env, flags, validators })).snapshot) });

  const path = verdict.kind === 'remove' ? join(dir, verdict.fileName) : undefined;
  if (!reportDisconnect(io, { name, path, verdict, removed })) return EXIT.OK;
  try {
    const status = viaAgent ?? await fetchAgentStatus({ socketPath, timeoutMs: 2000 });
    const line = disconnectBeylaLine(status.beyla, viaAgent?.debounceMs ?? main.settings.beyla.debounceMs);
    if (line) io.out(line);
  } catch (error) {
    if (!(error instanceof CoralError)) throw error;
    if (error.code === 'AGENT_UNAVAILABLE') io.out('coral-agent is not running: the change takes effect when it starts');
    else io.err(`note: the service is removed, but coral-agent's state is unknown: ${error.format()}`);
  }
  return EXIT.OK;
}
