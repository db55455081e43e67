// `coral-agent reload`: ask the running daemon to re-read its configuration now, and wait until it is applied or rejected.
import { controlRequest } from '../control/control-request.js';
import { parseDuration } from '../config/duration.js';
import { CoralError, EXIT } from '../errors.js';
import { loadSnapshot } from '../store/load-snapshot.js';
import { CONFIG_OPTIONS, parse, SETTING_FLAGS, SETTING_FLAGS_HELP, settingFlags } from './args.js';
import { formatDiagnostic } from './format-diagnostic.js';
import type { Io } from './io.js';
import type { Diagnostic } from '../config/types.js';

export const RELOAD_USAGE = `Usage: coral-agent reload [--config PATH] [--timeout DURATION]

Ask the running coral-agent to re-read coral.yaml and services.d at once (no debounce) and
wait until the result is applied (Beyla swapped, or nothing to change) or rejected.
systemd's ExecReload runs this, so 'systemctl reload coral-agent' fails on an invalid config
while the agent keeps running on the last good one.

Options:
  -c, --config PATH        main file (its agent.control.socket is used)
      --timeout DURATION   how long to wait (default 2m)
  -h, --help               show this help

${SETTING_FLAGS_HELP}

Exit codes: 0 applied, 65 the configuration is invalid (nothing changed), 69 the agent is not
running, 75 timed out or failed to apply (the old config stays in effect), 77 permission denied.`;

export async function reload(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, { ...CONFIG_OPTIONS, ...SETTING_FLAGS, timeout: { type: 'string' } }, RELOAD_USAGE, { maxPositionals: 0 });
  if (values.help) {
    io.out(RELOAD_USAGE);
    return EXIT.OK;
  }
  const timeoutMs = typeof values.timeout === 'string' ? parseDuration(values.timeout) : 120_000;
  if (timeoutMs === undefined) throw new CoralError('USAGE', `--timeout: "${String(values.timeout)}" is not a duration`, { hint: 'e.g. --timeout 30s' });
  const { snapshot } = await loadSnapshot({ configPath: values.config as string | undefined, env: io.env, flags: settingFlags(values) });
  const socketPath = snapshot.settings.control.socket;
  const response = await controlRequest({ socketPath, method: 'POST', path: '/v1/reload', timeoutMs });
  const body = response.body as { ok?: boolean; invalid?: boolean; message?: string; errors?: Diagnostic[]; error?: string; result?: string };
  for (const d of body.errors ?? []) io.err(formatDiagnostic(d));
  if (response.status === 200 && body.ok) {
    io.out(`reloaded: ${body.message ?? body.result ?? 'applied'}`);
    return EXIT.OK;
  }
  // 422: a file is invalid (nothing changed). A valid configuration that Beyla failed to apply is a
  // temporary failure (75): the old Beyla keeps running and the agent retries.
  if (response.status === 422 && body.invalid !== false) {
    io.err(`reload rejected: ${body.message ?? 'the configuration is invalid'}; the agent keeps running on its last good configuration`);
    return EXIT.DATAERR;
  }
  io.err(`reload failed: ${body.message ?? body.error ?? `HTTP ${response.status}`}`);
  return EXIT.TEMPFAIL;
}
