// argv parsing for both commands: node:util parseArgs with usage errors as CoralError (exit 64).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CoralError } from '../errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse(args: string[], options: Options, usage: string): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new CoralError('USAGE', message.replace(/\. To specify a positional argument.*$/s, ''), { hint: usage, cause: error });
  }
}

/** The options every config-reading command takes. */
export const CONFIG_OPTIONS: Options = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
};

/** Setting overrides from flags, keyed by flag name (see SETTINGS[].flag). */
export const SETTING_FLAGS: Options = {
  'services-dir': { type: 'string' },
  'log-level': { type: 'string' },
  'beyla-binary': { type: 'string' },
  'metrics-listen': { type: 'string' },
  'control-socket': { type: 'string' },
};

export function settingFlags(values: Record<string, string | boolean | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const name of Object.keys(SETTING_FLAGS)) {
    const value = values[name];
    if (typeof value === 'string') out[name] = value;
  }
  return out;
}
