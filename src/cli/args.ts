// argv parsing for both commands: node:util parseArgs with usage errors as CoralError (exit 64).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CoralError } from '../errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface ParseLimits {
  /** How many positional arguments the command takes (default: any; the command checks them). */
  maxPositionals?: number;
}

/** "coral status" from "Usage: coral status [--config PATH]...": the command a usage text is about. */
export function commandOf(usage: string): string {
  const match = /^Usage:\s+((?:[\w-]+)(?: [a-z][\w-]*)*)/.exec(usage);
  return match?.[1] ?? 'coral';
}

/** One line saying what is wrong and where the help is: the whole usage text would bury the problem. */
export function parse(args: string[], options: Options, usage: string, limits: ParseLimits = {}): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const command = commandOf(usage);
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    parsed = { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new CoralError('USAGE', message.replace(/\. To specify a positional argument.*$/s, '').replace(/\.$/, ''), { hint: `see: ${command} --help`, cause: error });
  }
  const max = limits.maxPositionals;
  if (max !== undefined && parsed.positionals.length > max && !parsed.values.help) {
    const extra = parsed.positionals.slice(max);
    throw new CoralError('USAGE', `unexpected argument${extra.length === 1 ? '' : 's'}: ${extra.join(' ')}`, { hint: `see: ${command} --help` });
  }
  return parsed;
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

/** `coral connect`'s options (the fast path in coral.ts parses with the same table). */
export const CONNECT_OPTIONS: Options = {
  ...CONFIG_OPTIONS,
  ...SETTING_FLAGS,
  ports: { type: 'string' }, exe: { type: 'string' }, health: { type: 'string' }, type: { type: 'string' },
  replace: { type: 'boolean' }, force: { type: 'boolean' }, wait: { type: 'boolean' }, timeout: { type: 'string' },
};

/** The --help paragraph for SETTING_FLAGS, which every command accepts. */
export const SETTING_FLAGS_HELP = `Setting flags (each overrides coral.yaml and its CORAL_* variable; see configuration.md in /usr/share/doc/coral-agent):
      --services-dir DIR          agent.services_dir
      --log-level LEVEL           agent.log_level
      --beyla-binary PATH         agent.beyla.binary
      --metrics-listen HOST:PORT  agent.metrics.listen
      --control-socket PATH       agent.control.socket`;

export function settingFlags(values: Record<string, string | boolean | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const name of Object.keys(SETTING_FLAGS)) {
    const value = values[name];
    if (typeof value === 'string') out[name] = value;
  }
  return out;
}
