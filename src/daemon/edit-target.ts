// editTargets: whether this agent takes a connect/disconnect request (the directory, and for the CLI's fast path the coral.yaml, variables, flags and socket it names).
import { parseMainConfig } from '../config/parse-main.js';
import type { Validators } from '../config/schema-validate.js';
import type { AgentSettings, HealthDefaults } from '../config/types.js';
import { fallback, mismatch, type EditReply } from './edit-replies.js';

export type Obj = Record<string, unknown>;
export const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Obj : {});

/** How a request names its directory: already resolved by the CLI, or as coral.yaml's bytes, CORAL_* variables and flags (the CLI's fast path). */
export interface Target {
  healthDefaults: HealthDefaults;
  /** Resolved here: a request this agent does not take is answered 409, never 422. */
  fast: boolean;
}

interface ClientConfig {
  path: string;
  base64: string;
  env: Record<string, string | undefined>;
  flags: Record<string, string | undefined>;
}

function clientConfig(v: unknown): ClientConfig | undefined {
  const c = obj(v);
  const strings = (x: unknown): x is Record<string, string> => typeof x === 'object' && x !== null && Object.values(x).every((s) => typeof s === 'string');
  if (typeof c.path !== 'string' || typeof c.base64 !== 'string' || !strings(c.env) || !strings(c.flags)) return undefined;
  return { path: c.path, base64: c.base64, env: c.env, flags: c.flags };
}

export interface EditTargetsOptions {
  validators: Validators;
  /** The socket the control server listens on: a request resolved to another one is not this agent's. */
  socketPath: string;
}

/** Returns targetOf(body, settings): the request's Target, or the reply that refuses it. */
export function editTargets(opts: EditTargetsOptions): (body: Obj, settings: AgentSettings) => Target | EditReply {
  // The last resolution, reused while the CLI sends the same file, variables and flags (parse and schema check: ~1 ms).
  let resolved: { key: string; settings: AgentSettings | undefined } | undefined;
  const resolveClient = (config: ClientConfig): AgentSettings | undefined => {
    const key = JSON.stringify([config.path, config.base64, config.env, config.flags]);
    if (resolved?.key === key) return resolved.settings;
    const main = parseMainConfig({ file: config.path, bytes: Buffer.from(config.base64, 'base64'), validators: opts.validators, env: config.env, flags: config.flags });
    const valid = main.result.ok && !main.settingErrors.some((d) => d.severity === 'error');
    resolved = { key, settings: valid ? main.settings : undefined };
    return resolved.settings;
  };

  /** Whether this agent takes the request: the directory (and, resolved here, the socket) it serves. */
  const targetOf = (body: Obj, settings: AgentSettings): Target | EditReply => {
    if (body.config === undefined) {
      if (body.servicesDir === settings.servicesDir && body.configPath === settings.configPath) return { healthDefaults: settings.health, fast: false };
      return mismatch(settings);
    }
    const config = clientConfig(body.config);
    if (!config) return { status: 400, body: { ok: false, error: { code: 'USAGE', message: 'config: path, base64, env and flags are required' } } };
    const client = resolveClient(config);
    if (!client) return fallback('the configuration is invalid as the command reads it');
    if (client.configPath !== settings.configPath || client.servicesDir !== settings.servicesDir || client.control.socket !== opts.socketPath) return mismatch(settings);
    return { healthDefaults: client.health, fast: true };
  };
  return targetOf;
}
