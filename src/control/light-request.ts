// One JSON request to the control socket over node:net, without node:http: what `coral connect` sends on its fast path, where start-up time is the cost.

import { connect } from 'node:net';

export interface LightRequestOptions {
  socketPath: string;
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  timeoutMs: number;
}

/** The answer, or why there is none: `unreachable` before the request left (no agent, no permission), `failed` after. */
export type LightResponse =
  | { kind: 'answer'; status: number; body: unknown }
  | { kind: 'unreachable'; error: NodeJS.ErrnoException }
  | { kind: 'failed'; error: Error }
  | { kind: 'timeout' };

/** `HTTP/1.1 200 OK\r\nheaders\r\n\r\nbody`, the body possibly chunked. */
export function parseHttpResponse(raw: Buffer): { status: number; body: unknown } | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const head = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '');
  if (!status) return undefined;
  const headers = new Map(head.slice(1).map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()] as const;
  }));
  let body = raw.subarray(end + 4);
  if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = body.indexOf('\r\n', at);
      if (lineEnd === -1) return undefined;
      const size = Number.parseInt(body.subarray(at, lineEnd).toString('latin1'), 16);
      if (!Number.isFinite(size)) return undefined;
      if (size === 0) break;
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else if (headers.has('content-length')) {
    const length = Number(headers.get('content-length'));
    if (!(body.length >= length)) return undefined;
    body = body.subarray(0, length);
  }
  try {
    return { status: Number(status[1]), body: JSON.parse(body.toString('utf8')) };
  } catch {
    return undefined;
  }
}

/** Sends `Connection: close` and reads until the agent closes; never throws. */
export function lightRequest(opts: LightRequestOptions): Promise<LightResponse> {
  return new Promise((resolve) => {
    const payload = opts.body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(opts.body), 'utf8');
    const head = `${opts.method} ${opts.path} HTTP/1.1\r\nhost: localhost\r\naccept: application/json\r\nconnection: close\r\n`
      + (opts.body === undefined ? '' : `content-type: application/json\r\ncontent-length: ${payload.length}\r\n`) + '\r\n';
    const chunks: Buffer[] = [];
    let sent = false;
    let settled = false;
    const socket = connect({ path: opts.socketPath });
    const settle = (response: LightResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(response);
    };
    const timer = setTimeout(() => settle({ kind: 'timeout' }), opts.timeoutMs);
    socket.on('connect', () => {
      sent = true;
      socket.write(Buffer.concat([Buffer.from(head, 'latin1'), payload]));
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      const parsed = parseHttpResponse(Buffer.concat(chunks));
      settle(parsed ? { kind: 'answer', ...parsed } : { kind: 'failed', error: new Error('the answer is not an HTTP response with a JSON body') });
    });
    socket.on('error', (error: NodeJS.ErrnoException) => settle(sent ? { kind: 'failed', error } : { kind: 'unreachable', error }));
  });
}
