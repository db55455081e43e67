// The settings a `coral` command needs (services dir, socket, health defaults) from coral.yaml alone, without reading the drop-ins.
import { parseMainConfig, type MainResult } from '../config/parse-main.js';
import type { Validators } from '../config/schema-validate.js';
import type { Diagnostic } from '../config/types.js';
import { CoralError } from '../errors.js';
import { resolveConfigPath } from '../store/resolve-config-path.js';
import { readSourceFile } from '../store/read-source-file.js';
import { formatDiagnostic } from './format-diagnostic.js';

export interface CoralSettingsOptions {
  configPath?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  flags?: Readonly<Record<string, string | undefined>>;
  validators: Validators;
}

/** coral.yaml parsed with env and flags; throws CONFIG_MISSING (66) or PERMISSION (77) when it cannot be read. */
export async function loadCoralSettings(opts: CoralSettingsOptions): Promise<MainResult> {
  const { path } = resolveConfigPath(opts.configPath, opts.env);
  const source = await readSourceFile(path);
  if ('error' in source) {
    if (source.missing) {
      throw new CoralError('CONFIG_MISSING', `${path}: no such file`, {
        hint: 'install coral-agent, or point --config / CORAL_CONFIG at your coral.yaml', details: { path },
      });
    }
    const code = source.error.hint?.includes('group coral') ? 'PERMISSION' : 'INVALID_CONFIG';
    throw new CoralError(code, `${path}: ${source.error.message}`, { ...(source.error.hint ? { hint: source.error.hint } : {}), details: { path } });
  }
  return parseMainConfig({ file: path, bytes: source.bytes, validators: opts.validators, env: opts.env, flags: opts.flags ?? {} });
}

/** Refuse to change services while coral.yaml (or CORAL_* / flags) is invalid: the services dir may not be what the agent uses. */
export function requireValidSettings(main: MainResult): void {
  const errors: Diagnostic[] = [...(main.result.ok ? [] : main.result.errors), ...main.settingErrors.filter((d) => d.severity === 'error')];
  if (errors.length === 0) return;
  throw new CoralError('INVALID_CONFIG', `the configuration is invalid, so no service was changed:\n${errors.map(formatDiagnostic).join('\n')}`, {
    hint: 'fix it first (coral-agent check lists the problems)',
  });
}
