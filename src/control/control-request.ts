// Client of the control socket: one HTTP request, errors mapped to CoralError codes the CLI can exit with.
import http from 'node:http';
import { CoralError, isErrno } from '../errors.js';

export interface ControlRequestOptions {
  socketPath: string;
  method: 'GET' | 'POST';
  /** e.g. '/v1/status' */
  path: string;
  /** Default: 130 s for POST (a reload may wait for Beyla), 10 s for GET. */
  timeoutMs?: number;
  /** Sent as JSON (POST). */
  body?: unknown;
}

export interface ControlResponse {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

function connectError(socketPath: string, error: unknown): CoralError {
  const details = { path: socketPath };
  if (isErrno(error, 'ENOENT') || isErrno(error, 'ECONNREFUSED') || isErrno(error, 'ENOTSOCK')) {
    return new CoralError('AGENT_UNAVAILABLE', `coral-agent is not running (no control socket at ${socketPath})`, {
      hint: 'start it with: systemctl start coral-agent', cause: error, details,
    });
  }
  if (isErrno(error, 'EACCES') || isErrno(error, 'EPERM')) {
    return new CoralError('PERMISSION', `permission denied on ${socketPath}`, {
      hint: 'run as root or as a member of group coral', cause: error, details,
    });
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new CoralError('IO', `talking to coral-agent on ${socketPath} failed: ${reason}`, { cause: error, details });
}

export function controlRequest(opts: ControlRequestOptions): Promise<ControlResponse> {
  const { socketPath, method, path } = opts;
  const timeoutMs = opts.timeoutMs ?? (method === 'POST' ? 130_000 : 10_000);
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': 'application/json' }) };
    const req = http.request({ socketPath, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (error) => settle(() => reject(connectError(socketPath, error))));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch (error) {
          settle(() => reject(new CoralError('INTERNAL', `coral-agent sent a response that is not JSON (HTTP ${res.statusCode})`, {
            cause: error, details: { path: socketPath, status: res.statusCode, body: text.slice(0, 200) },
          })));
          return;
        }
        settle(() => resolve({ status: res.statusCode ?? 0, body }));
      });
    });
    const timer = setTimeout(() => {
      settle(() => reject(new CoralError('TEMPORARY', `coral-agent did not answer ${method} ${path} within ${timeoutMs / 1000} s`, {
        hint: 'it may be busy applying a change; try again, or see: journalctl -u coral-agent',
        details: { path: socketPath, timeout_ms: timeoutMs },
      })));
      req.destroy();
    }, timeoutMs);
    req.on('error', (error) => settle(() => reject(connectError(socketPath, error))));
    req.end(payload);
  });
}
