// Which coral.yaml a command means: --config, else $CORAL_CONFIG, else /etc/coral/coral.yaml (apart, so the CLI's fast path loads nothing else).
import { resolve } from 'node:path';

export const DEFAULT_CONFIG_PATH = '/etc/coral/coral.yaml';

/** The main file's path and where that came from. */
export function resolveConfigPath(configPath: string | undefined, env: Readonly<Record<string, string | undefined>>): { path: string; origin: 'flag' | 'env' | 'default' } {
  if (configPath) return { path: resolve(configPath), origin: 'flag' };
  if (env.CORAL_CONFIG) return { path: resolve(env.CORAL_CONFIG), origin: 'env' };
  return { path: DEFAULT_CONFIG_PATH, origin: 'default' };
}
