// `coral-agent check`: validate coral.yaml and every drop-in, print each problem with file:line:col, then a summary.
import { countPorts, formatRanges, mergeRanges } from '../config/ports.js';
import { EXIT } from '../errors.js';
import { loadSnapshot } from '../store/load-snapshot.js';
import { CONFIG_OPTIONS, parse, SETTING_FLAGS, SETTING_FLAGS_HELP, settingFlags } from './args.js';
import { formatDiagnostic } from './format-diagnostic.js';
import type { Io } from './io.js';
import { plural } from './plural.js';

export const CHECK_USAGE = `Usage: coral-agent check [--config PATH] [--json]

Validate the main file and every drop-in in its services directory, as the daemon would.
Prints each problem as path:line:col: message (with a hint), then a summary.

Options:
  -c, --config PATH   main file (default: $CORAL_CONFIG, else /etc/coral/coral.yaml)
      --json          print the result as JSON
  -h, --help          show this help

${SETTING_FLAGS_HELP}

Exit codes: 0 all valid, 65 a file is invalid, 66 the main file is missing, 64 usage error.`;

export async function check(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, { ...CONFIG_OPTIONS, ...SETTING_FLAGS, json: { type: 'boolean' } }, CHECK_USAGE, { maxPositionals: 0 });
  if (values.help) {
    io.out(CHECK_USAGE);
    return EXIT.OK;
  }
  const { snapshot, invalidFiles } = await loadSnapshot({ configPath: values.config as string | undefined, env: io.env, flags: settingFlags(values) });
  const errors = snapshot.diagnostics.filter((d) => d.severity === 'error');
  const ports = mergeRanges(snapshot.services.flatMap((s) => s.ports));
  const valid = errors.length === 0;
  const summary = {
    services: snapshot.services.length,
    ports: countPorts(ports),
    files: snapshot.files.length,
    filesRejected: invalidFiles.length,
  };
  if (values.json) {
    io.out(JSON.stringify({
      valid,
      config: snapshot.settings.configPath,
      servicesDir: snapshot.settings.servicesDir,
      summary,
      ports: formatRanges(ports),
      services: snapshot.services,
      files: snapshot.files.map((f) => ({ file: f.file, valid: f.status === 'valid', services: f.services.map((s) => s.name), errors: f.errors })),
      diagnostics: snapshot.diagnostics,
    }, null, 2));
  } else {
    for (const d of snapshot.diagnostics) (d.severity === 'error' ? io.err : io.out)(formatDiagnostic(d));
    const rejected = summary.filesRejected > 0 ? `; ${summary.filesRejected} of ${plural(summary.files, 'file')} rejected` : `; ${plural(summary.files, 'file')}`;
    const verdict = valid ? 'configuration OK' : 'configuration INVALID';
    io.out(`${verdict}: ${plural(summary.services, 'service')}, ${plural(summary.ports, 'port')}${ports.length ? ` (${formatRanges(ports)})` : ''}${rejected}`);
  }
  return valid ? EXIT.OK : EXIT.DATAERR;
}
