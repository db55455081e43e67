// POST /v1/connect and /v1/disconnect: the daemon validates and writes drop-ins under the directory lock, checking against its in-memory view.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDropIn } from '../config/parse-drop-in.js';
import { parseMainConfig } from '../config/parse-main.js';
import type { Validators } from '../config/schema-validate.js';
import type { AgentSettings, HealthDefaults, Service } from '../config/types.js';
import { formatRanges } from '../config/ports.js';
import { CoralError, isErrno } from '../errors.js';
import type { Logger } from '../log.js';
import { connectUnderLock, disconnectUnderLock, planDisconnect } from '../store/edit-services.js';
import { lockServicesDir, storeError } from '../store/lock-services-dir.js';
import type { LiveServicesView } from '../store/services-view.js';

export interface EditReply {
  status: number;
  body: unknown;
}

export interface ServiceEditsOptions {
  view: LiveServicesView;
  validators: Validators;
  settings: () => AgentSettings;
  /** The socket the control server listens on: a request resolved to another one is not this agent's. */
  socketPath: string;
  logger: Logger;
  /** What the reply adds so the CLI needs no second request (Beyla's state). */
  extra: () => Record<string, unknown>;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Obj : {});

function errorReply(error: unknown): EditReply {
  if (!(error instanceof CoralError)) throw error;
  if (error.details.mismatch === true) return { status: 409, body: { ok: false, error: { code: 'MISMATCH', message: error.message } } };
  const status = error.code === 'INVALID_CONFIG' || error.code === 'USAGE' ? 422 : error.code === 'TEMPORARY' ? 503 : 500;
  return { status, body: { ok: false, error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}), details: error.details } } };
}

async function exists(dir: string): Promise<boolean> {
  try {
    await stat(dir);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw storeError(error, 'read', dir);
  }
}

const mismatch = (settings: AgentSettings): EditReply => ({
  status: 409, body: { ok: false, error: { code: 'MISMATCH', message: `this agent follows ${settings.configPath} and ${settings.servicesDir}` } },
});

/** 409: the CLI must decide this itself (it then says exactly what it always said). */
const fallback = (message: string): EditReply => ({ status: 409, body: { ok: false, error: { code: 'FALLBACK', message } } });

/** How a request names its directory: already resolved by the CLI, or as coral.yaml's bytes, CORAL_* variables and flags (the CLI's fast path). */
interface Target {
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

export function createServiceEdits(opts: ServiceEditsOptions): { connect(body: unknown): Promise<EditReply>; disconnect(body: unknown): Promise<EditReply> } {
  // One edit at a time inside the daemon: they would only poll each other's lock otherwise.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };

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

  /** The view under the lock, refused when it follows another directory than the one being written (a config change in flight). */
  const viewOf = async (settings: AgentSettings): Promise<Awaited<ReturnType<LiveServicesView['current']>>> => {
    const view = await opts.view.current();
    if (view.settings.servicesDir !== settings.servicesDir) {
      throw new CoralError('TEMPORARY', `the agent is switching to ${view.settings.servicesDir}`, { details: { mismatch: true } });
    }
    return view;
  };

  /** The one service a `coral connect` text defines, or what is wrong with it. */
  const parseOne = (text: string, healthDefaults: HealthDefaults): Service | { problems: string[] } => {
    const parsed = parseDropIn({ file: 'coral connect', bytes: new TextEncoder().encode(text), validators: opts.validators, healthDefaults });
    if (parsed.ok && parsed.services.length === 1) return parsed.services[0]!;
    return { problems: parsed.ok ? ['  one service per coral connect'] : parsed.errors.map((d) => `  ${d.message}${d.hint ? ` (${d.hint})` : ''}`) };
  };

  const connect = (raw: unknown): Promise<EditReply> => serial(async () => {
    const body = obj(raw);
    const settings = opts.settings();
    const target = targetOf(body, settings);
    if ('status' in target) return target;
    if (typeof body.text !== 'string') return { status: 400, body: { ok: false, error: { code: 'USAGE', message: 'text: a drop-in is required' } } };
    const text = body.text;
    try {
      // Never trust the client's parse: the daemon validates the text itself.
      const parsed = parseOne(text, settings.health);
      if (!('name' in parsed)) {
        if (target.fast) return fallback('not a valid service');
        throw new CoralError('INVALID_CONFIG', `invalid service:\n${parsed.problems.join('\n')}`);
      }
      const dir = settings.servicesDir;
      const fileName = `${parsed.name}.yaml`;
      const path = join(dir, fileName);
      const service = { ...parsed, source: { file: path, line: 2, col: 1 } };
      // The reply shows the service as the command's own settings read it (their health defaults), as the full command prints it.
      const asClient = JSON.stringify(target.healthDefaults) === JSON.stringify(settings.health) ? parsed : parseOne(text, target.healthDefaults);
      if (!('name' in asClient)) return fallback('not a valid service with the command\'s settings');
      const shown = { ...asClient, source: service.source };
      const outcome = await lockServicesDir({ dir, create: true }, async (lost) => {
        const result = await connectUnderLock({
          dir, fileName, text, service, replace: body.replace === true, force: body.force === true,
          validators: opts.validators, healthDefaults: settings.health, view: () => viewOf(settings), lost,
        });
        if (result.changed) opts.view.wrote(path, service);
        return result;
      });
      if (outcome.changed) {
        opts.logger.info({ file: path, service: service.name, ports: formatRanges(service.ports), ...(outcome.forced ? { forced: outcome.forced } : {}) }, `coral connect: wrote ${fileName}`);
      }
      return { status: 200, body: { ok: true, outcome: { ...outcome, service: shown }, servicesDir: dir, ...opts.extra() } };
    } catch (error) {
      return errorReply(error);
    }
  });

  const disconnect = (raw: unknown): Promise<EditReply> => serial(async () => {
    const body = obj(raw);
    const settings = opts.settings();
    const target = targetOf(body, settings);
    if ('status' in target) return target;
    if (typeof body.name !== 'string') return { status: 400, body: { ok: false, error: { code: 'USAGE', message: 'name: a service name is required' } } };
    const name = body.name;
    const dir = settings.servicesDir;
    try {
      if (!(await exists(dir))) {
        const verdict = planDisconnect(await viewOf(settings), name);
        return { status: 200, body: { ok: true, verdict, removed: false, servicesDir: dir, ...opts.extra() } };
      }
      const done = await lockServicesDir({ dir }, async (lost) => {
        const result = await disconnectUnderLock({ dir, name, view: () => viewOf(settings), lost });
        if (result.removed && result.verdict.kind === 'remove') opts.view.removed(join(dir, result.verdict.fileName));
        return result;
      });
      if (done.removed && done.verdict.kind === 'remove') opts.logger.info({ file: join(dir, done.verdict.fileName), service: name }, `coral disconnect: removed ${done.verdict.fileName}`);
      return { status: 200, body: { ok: true, ...done, servicesDir: dir, ...opts.extra() } };
    } catch (error) {
      return errorReply(error);
    }
  });

  return { connect, disconnect };
}
