// POST /v1/connect and /v1/disconnect: the daemon validates and writes drop-ins under the directory lock, checking against its in-memory view.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDropIn } from '../config/parse-drop-in.js';
import type { Validators } from '../config/schema-validate.js';
import type { AgentSettings, HealthDefaults, Service } from '../config/types.js';
import { formatRanges } from '../config/ports.js';
import { CoralError, isErrno } from '../errors.js';
import type { Logger } from '../log.js';
import { connectUnderLock, disconnectUnderLock, planDisconnect } from '../store/edit-services.js';
import { lockServicesDir, storeError } from '../store/lock-services-dir.js';
import type { LiveServicesView } from '../store/services-view.js';
import { errorReply, fallback, type EditReply } from './edit-replies.js';
import { editTargets, obj } from './edit-target.js';

export type { EditReply } from './edit-replies.js';

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

async function exists(dir: string): Promise<boolean> {
  try {
    await stat(dir);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw storeError(error, 'read', dir);
  }
}

export function createServiceEdits(opts: ServiceEditsOptions): { connect(body: unknown): Promise<EditReply>; disconnect(body: unknown): Promise<EditReply> } {
  // One edit at a time inside the daemon: they would only poll each other's lock otherwise.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };

  const targetOf = editTargets({ validators: opts.validators, socketPath: opts.socketPath });

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
