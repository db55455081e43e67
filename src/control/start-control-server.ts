// The local control API: HTTP/1.1 on a unix socket (status, reload-and-wait, liveness) for the `coral` CLI.
import http from 'node:http';
import { chmod, chown, stat, unlink } from 'node:fs/promises';
import { CoralError, isErrno } from '../errors.js';
import { createLimitedServer, declaresOver, hasBody, type HttpLimits } from '../http-limits.js';
import type { Logger } from '../log.js';
import { lookupGroupId } from './lookup-group-id.js';
import { prepareSocketPath } from './prepare-socket-path.js';

export interface ReloadOutcome {
  /** false when the new configuration is invalid (served as 422) or could not be applied (503). */
  ok: boolean;
  /** With ok false: true (or absent) when a file is invalid, false when a valid configuration failed to apply. */
  invalid?: boolean;
  [key: string]: unknown;
}

export interface ControlHandlers {
  status(): Promise<unknown> | unknown;
  /** Apply the current configuration and resolve once it is in effect (or rejected). */
  reload(): Promise<ReloadOutcome>;
  /** POST /v1/connect and /v1/disconnect with a JSON body: write or remove a drop-in (see src/daemon/service-edits.ts). */
  connect?(body: unknown): Promise<Reply>;
  disconnect?(body: unknown): Promise<Reply>;
}

/** A JSON request body larger than this is refused (413): a drop-in is a few lines. */
const MAX_BODY_BYTES = 256 * 1024;

export interface ControlServerOptions {
  socketPath: string;
  /** Group allowed to use the socket. Default 'coral'; when it does not exist the socket stays root-only. */
  group?: string;
  /** Default 0o660. */
  mode?: number;
  logger: Logger;
  handlers: ControlHandlers;
  /** A reload that has not finished by then is answered 504. Default 120 s. */
  reloadTimeoutMs?: number;
  /** Where groups are looked up. Default '/etc/group'. */
  groupFile?: string;
  /** Timeouts and the connection cap (defaults in src/http-limits.ts). */
  limits?: Partial<HttpLimits>;
}

export interface ControlServer {
  path: string;
  close(): Promise<void>;
}

export type Reply = { status: number; body: unknown };

function errorBody(error: unknown): Record<string, unknown> {
  if (error instanceof CoralError) return { error: error.message, code: error.code, ...(error.hint ? { hint: error.hint } : {}) };
  return { error: error instanceof Error ? error.message : String(error) };
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
const TIMED_OUT = Symbol('timed out');

function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        // Answered 413, which closes the connection: nothing more of the body is read.
        req.pause();
        reject(new RangeError(`request body over ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new Error('the request body is not JSON'));
      }
    });
  });
}

export async function startControlServer(opts: ControlServerOptions): Promise<ControlServer> {
  const { socketPath, handlers } = opts;
  const group = opts.group ?? 'coral';
  const mode = opts.mode ?? 0o660;
  const reloadTimeoutMs = opts.reloadTimeoutMs ?? 120_000;
  const logger = opts.logger.child({ component: 'control' });

  async function route(method: string, path: string, body: () => Promise<unknown>): Promise<Reply> {
    const edit = path === '/v1/connect' ? handlers.connect : path === '/v1/disconnect' ? handlers.disconnect : undefined;
    if (edit) {
      if (method !== 'POST') return { status: 405, body: { error: 'use POST' } };
      let parsed: unknown;
      try {
        parsed = await body();
      } catch (error) {
        return { status: error instanceof RangeError ? 413 : 400, body: { error: error instanceof Error ? error.message : String(error) } };
      }
      return edit(parsed);
    }
    if (path === '/v1/health') {
      if (method !== 'GET') return { status: 405, body: { error: 'use GET' } };
      return { status: 200, body: { ok: true } };
    }
    if (path === '/v1/status') {
      if (method !== 'GET') return { status: 405, body: { error: 'use GET' } };
      return { status: 200, body: await handlers.status() };
    }
    if (path === '/v1/reload') {
      if (method !== 'POST') return { status: 405, body: { error: 'use POST' } };
      const outcome = await withTimeout(Promise.resolve().then(() => handlers.reload()), reloadTimeoutMs);
      if (outcome === TIMED_OUT) {
        logger.warn({ timeout_ms: reloadTimeoutMs }, 'reload did not finish in time');
        return { status: 504, body: { error: `reload did not finish within ${reloadTimeoutMs / 1000} s` } };
      }
      return { status: outcome.ok ? 200 : outcome.invalid === false ? 503 : 422, body: outcome };
    }
    return { status: 404, body: { error: `no such endpoint: ${method} ${path}` } };
  }

  // Any answer of 400 or above closes the connection: the rest of a request body is never read.
  const server = createLimitedServer({ limits: opts.limits ?? {}, logger, name: 'control socket' }, (req, res) => {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    let bodyRead: Promise<unknown> | undefined;
    const takesBody = path === '/v1/connect' || path === '/v1/disconnect';
    const body = (): Promise<unknown> => (bodyRead ??= declaresOver(req, MAX_BODY_BYTES)
      ? Promise.reject(new RangeError(`request body over ${MAX_BODY_BYTES} bytes`))
      : readJsonBody(req));
    const send = ({ status, body }: Reply): void => {
      // Cut by close() (the agent stopping) or by the client: nobody reads it, and serialising a status
      // of 20,000 services takes hundreds of ms of the event loop that the stop needs.
      if (res.destroyed) return;
      let text: string;
      try {
        text = `${JSON.stringify(body ?? null)}\n`;
      } catch (error) {
        logger.error({ err: error, method, path }, 'control response is not serialisable');
        status = 500;
        text = `${JSON.stringify(errorBody(error))}\n`;
      }
      if (status === 405) res.setHeader('allow', ['/v1/reload', '/v1/connect', '/v1/disconnect'].includes(path) ? 'POST' : 'GET');
      res.writeHead(status, { 'content-type': 'application/json' }).end(text);
    };
    if (!takesBody && hasBody(req)) {
      send({ status: 413, body: { error: `${path} takes no request body` } });
      return;
    }
    route(method, path, body).then(send, (error: unknown) => {
      logger.error({ err: error, method, path }, 'control request failed');
      send({ status: 500, body: errorBody(error) });
    });
  });
  server.on('error', (error) => logger.error({ err: error }, 'control server error'));

  await prepareSocketPath(socketPath, logger);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: unknown): void => {
      reject(new CoralError('CANT_CREATE', `cannot listen on the control socket ${socketPath}`, {
        cause: error, hint: 'check agent.control.socket and the permissions of its directory', details: { path: socketPath },
      }));
    };
    server.once('error', onError);
    server.listen({ path: socketPath }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const closeServer = (): Promise<void> =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });

  let inode: number;
  try {
    await chmod(socketPath, mode);
    inode = (await stat(socketPath)).ino;
  } catch (error) {
    await closeServer();
    throw new CoralError('CANT_CREATE', `cannot set the mode of the control socket ${socketPath}`, { cause: error });
  }
  const gid = await lookupGroupId(group, opts.groupFile).catch((error: unknown) => {
    logger.warn({ err: error, group }, 'cannot read the group database');
    return undefined;
  });
  if (gid === undefined) {
    logger.warn({ path: socketPath, group }, 'group not found; the control socket is usable by root only');
  } else {
    try {
      await chown(socketPath, -1, gid);
    } catch (error) {
      logger.warn({ err: error, path: socketPath, group, gid }, 'cannot give the control socket to its group; usable by its owner only');
    }
  }
  logger.info({ path: socketPath, mode: `0${mode.toString(8)}`, group: gid === undefined ? null : group }, 'control socket listening');

  return {
    path: socketPath,
    async close() {
      await closeServer();
      // Remove the socket only if it is still ours (a successor may have replaced it).
      try {
        if ((await stat(socketPath)).ino === inode) await unlink(socketPath);
      } catch (error) {
        if (!isErrno(error, 'ENOENT')) logger.warn({ err: error, path: socketPath }, 'cannot remove the control socket');
      }
    },
  };
}
