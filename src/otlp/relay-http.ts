// The relay's HTTP plumbing: reading a bounded request body, answering Beyla, and the headers that may pass either way.
import type http from 'node:http';

/** Hop-by-hop headers (RFC 9110 7.6.1) and the ones the upstream connection sets itself. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'proxy-authorization', 'proxy-authenticate']);

export function forwardHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name, value]) => value !== undefined && !HOP.has(name)));
}

/** An OTLP success with nothing partial: an empty Export*ServiceResponse, in the request's encoding. */
export function answerSuccess(req: http.IncomingMessage, res: http.ServerResponse): void {
  const json = (req.headers['content-type'] ?? '').includes('json');
  res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
}

export function answer(res: http.ServerResponse, status: number, message: string, extra: http.OutgoingHttpHeaders = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...extra }).end(`${message}\n`);
}

/** Reads the whole body (at most `limit` bytes): 'too_large' when it is larger, 'gone' when the client went away. */
export function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | 'too_large' | 'gone'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        resolve('too_large');
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => resolve('gone'));
    req.on('aborted', () => resolve('gone'));
  });
}
