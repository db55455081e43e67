// `coral disconnect NAME`: remove services.d/NAME.yaml under the lock; services defined elsewhere are refused with their file and line.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { didYouMean } from '../config/did-you-mean.js';
import { loadValidators } from '../config/schema-validate.js';
import type { Service, Snapshot } from '../config/types.js';
import { CoralError, EXIT, isErrno } from '../errors.js';
import { loadSnapshot } from '../store/load-snapshot.js';
import { lockServicesDir, storeError } from '../store/lock-services-dir.js';
import { removeDropIn } from '../store/remove-drop-in.js';
import { CONFIG_OPTIONS, parse, SETTING_FLAGS, SETTING_FLAGS_HELP, settingFlags } from './args.js';
import { fetchAgentStatus } from './coral-fetch-status.js';
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

type Verdict =
  | { kind: 'remove'; fileName: string; restored?: Service }
  | { kind: 'absent'; guess?: string };

function where(s: Service): string {
  return `${s.source.file}:${s.source.line}`;
}

/** What disconnecting `name` means for this snapshot; throws INVALID_CONFIG when it is defined where coral does not write. */
export function planDisconnect(snapshot: Snapshot, name: string): Verdict {
  const dir = snapshot.settings.servicesDir;
  const fileName = `${name}.yaml`;
  const own = join(dir, fileName);
  const ownFile = snapshot.files.find((f) => f.file === own);
  const mainFile = snapshot.settings.configPath;
  const inMain = snapshot.files.find((f) => f.file === mainFile)?.services.find((s) => s.name === name);
  if (ownFile) {
    const others = ownFile.services.filter((s) => s.name !== name).map((s) => `"${s.name}"`);
    if (others.length > 0) {
      throw new CoralError('INVALID_CONFIG', `${own} also defines ${others.join(', ')}: it was not written by coral connect`, {
        hint: 'edit that file by hand', details: { path: own },
      });
    }
    return { kind: 'remove', fileName, ...(inMain ? { restored: inMain } : {}) };
  }
  if (inMain) {
    throw new CoralError('INVALID_CONFIG', `service "${name}" is defined in ${where(inMain)}, not by coral connect`, {
      hint: `remove it from ${mainFile}, then: systemctl reload coral-agent`, details: { path: mainFile, line: inMain.source.line },
    });
  }
  for (const file of snapshot.files) {
    const found = file.services.find((s) => s.name === name);
    if (found) {
      throw new CoralError('INVALID_CONFIG', `service "${name}" is defined in ${where(found)}, a drop-in not named ${fileName}`, {
        hint: `edit or remove ${file.file} by hand`, details: { path: file.file, line: found.source.line },
      });
    }
  }
  const guess = didYouMean(name, snapshot.services.map((s) => s.name));
  return { kind: 'absent', ...(guess ? { guess } : {}) };
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

  let dirExists = true;
  try {
    await stat(dir);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw storeError(error, 'read', dir);
    dirExists = false;
  }
  const decide = async (): Promise<{ verdict: Verdict; removed: boolean }> => {
    const { snapshot } = await loadSnapshot({ configPath, env: io.env, flags, validators });
    return { verdict: planDisconnect(snapshot, name), removed: false };
  };
  const { verdict, removed } = !dirExists
    ? await decide()
    : await lockServicesDir({ dir }, async (lost) => {
      const decided = await decide();
      if (decided.verdict.kind !== 'remove') return decided;
      return { verdict: decided.verdict, removed: await removeDropIn({ dir, fileName: decided.verdict.fileName, signal: lost }) };
    });

  if (verdict.kind === 'absent' || !removed) {
    const guess = verdict.kind === 'absent' && verdict.guess ? ` (did you mean "${verdict.guess}"?)` : '';
    io.out(`Service ${name} is not connected; nothing to remove${guess}`);
    return EXIT.OK;
  }
  io.out(`Disconnected service ${name} (removed ${join(dir, verdict.fileName)})`);
  if (verdict.restored) io.out(`Its definition in ${where(verdict.restored)} applies again`);
  try {
    const status = await fetchAgentStatus({ socketPath: main.settings.control.socket, timeoutMs: 2000 });
    if (status.beyla.state !== 'disabled' && status.beyla.state !== 'unavailable') {
      io.out(`eBPF metrics: Beyla restart scheduled in ${Math.round(main.settings.beyla.debounceMs / 100) / 10}s`);
    }
  } catch (error) {
    if (!(error instanceof CoralError)) throw error;
    if (error.code === 'AGENT_UNAVAILABLE') io.out('coral-agent is not running: the change takes effect when it starts');
    else io.err(`note: the service is removed, but coral-agent's state is unknown: ${error.format()}`);
  }
  return EXIT.OK;
}
