// POST /v1/connect and /v1/disconnect: the daemon validates and writes drop-ins under the directory lock, checking against its in-memory view.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDropIn } from '../config/parse-drop-in.js';
import type { Validators } from '../config/schema-validate.js';
import type { AgentSettings } from '../config/types.js';
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

/** The request must be about the directory this daemon follows; else the CLI writes directly (409). */
function sameDirectory(body: Obj, settings: AgentSettings): EditReply | undefined {
  if (body.servicesDir === settings.servicesDir && body.configPath === settings.configPath) return undefined;
  return { status: 409, body: { ok: false, error: { code: 'MISMATCH', message: `this agent follows ${settings.configPath} and ${settings.servicesDir}` } } };
}

export function createServiceEdits(opts: ServiceEditsOptions): { connect(body: unknown): Promise<EditReply>; disconnect(body: unknown): Promise<EditReply> } {
  // One edit at a time inside the daemon: they would only poll each other's lock otherwise.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };

  /** The view under the lock, refused when it follows another directory than the one being written (a config change in flight). */
  const viewOf = async (settings: AgentSettings): Promise<Awaited<ReturnType<LiveServicesView['current']>>> => {
    const view = await opts.view.current();
    if (view.settings.servicesDir !== settings.servicesDir) {
      throw new CoralError('TEMPORARY', `the agent is switching to ${view.settings.servicesDir}`, { details: { mismatch: true } });
    }
    return view;
  };

  const connect = (raw: unknown): Promise<EditReply> => serial(async () => {
    const body = obj(raw);
    const settings = opts.settings();
    const mismatch = sameDirectory(body, settings);
    if (mismatch) return mismatch;
    if (typeof body.text !== 'string') return { status: 400, body: { ok: false, error: { code: 'USAGE', message: 'text: a drop-in is required' } } };
    const text = body.text;
    try {
      // Never trust the client's parse: the daemon validates the text itself.
      const parsed = parseDropIn({ file: 'coral connect', bytes: new TextEncoder().encode(text), validators: opts.validators, healthDefaults: settings.health });
      if (!parsed.ok || parsed.services.length !== 1) {
        const problems = parsed.ok ? ['  one service per coral connect'] : parsed.errors.map((d) => `  ${d.message}${d.hint ? ` (${d.hint})` : ''}`);
        throw new CoralError('INVALID_CONFIG', `invalid service:\n${problems.join('\n')}`);
      }
      const dir = settings.servicesDir;
      const fileName = `${parsed.services[0]!.name}.yaml`;
      const path = join(dir, fileName);
      const service = { ...parsed.services[0]!, source: { file: path, line: 2, col: 1 } };
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
      return { status: 200, body: { ok: true, outcome, ...opts.extra() } };
    } catch (error) {
      return errorReply(error);
    }
  });

  const disconnect = (raw: unknown): Promise<EditReply> => serial(async () => {
    const body = obj(raw);
    const settings = opts.settings();
    const mismatch = sameDirectory(body, settings);
    if (mismatch) return mismatch;
    if (typeof body.name !== 'string') return { status: 400, body: { ok: false, error: { code: 'USAGE', message: 'name: a service name is required' } } };
    const name = body.name;
    const dir = settings.servicesDir;
    try {
      if (!(await exists(dir))) {
        const verdict = planDisconnect(await viewOf(settings), name);
        return { status: 200, body: { ok: true, verdict, removed: false, ...opts.extra() } };
      }
      const done = await lockServicesDir({ dir }, async (lost) => {
        const result = await disconnectUnderLock({ dir, name, view: () => viewOf(settings), lost });
        if (result.removed && result.verdict.kind === 'remove') opts.view.removed(join(dir, result.verdict.fileName));
        return result;
      });
      if (done.removed && done.verdict.kind === 'remove') opts.logger.info({ file: join(dir, done.verdict.fileName), service: name }, `coral disconnect: removed ${done.verdict.fileName}`);
      return { status: 200, body: { ok: true, ...done, ...opts.extra() } };
    } catch (error) {
      return errorReply(error);
    }
  });

  return { connect, disconnect };
}
