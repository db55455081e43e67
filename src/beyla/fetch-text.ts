// GET a loopback URL as text with a deadline; throws on a non-2xx answer, a refused connection or the deadline.
import { CoralError } from '../errors.js';

export interface FetchTextOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

export async function fetchText(url: string, opts: FetchTextOptions): Promise<string> {
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await fetch(url, { signal, headers: { connection: 'close' } });
  } catch (error) {
    throw new CoralError('TEMPORARY', `GET ${url} failed`, { cause: error, details: { url } });
  }
  const body = await response.text().catch((error: unknown) => {
    throw new CoralError('TEMPORARY', `GET ${url}: reading the body failed`, { cause: error, details: { url } });
  });
  if (!response.ok) throw new CoralError('TEMPORARY', `GET ${url} answered ${response.status}`, { details: { url, status: response.status } });
  return body;
}
