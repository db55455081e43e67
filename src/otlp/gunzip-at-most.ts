// Decompresses a gzip OTLP body, refusing one that inflates past a limit (a small body can expand a thousandfold).
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { OtlpBodyError } from './split-by-time.js';

const inflate = promisify(gunzip);

export async function gunzipAtMost(body: Uint8Array, limit: number): Promise<Buffer> {
  try {
    return await inflate(body, { maxOutputLength: limit });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new OtlpBodyError(`OTLP body over ${limit} bytes once decompressed`, true);
    throw new OtlpBodyError(`not a gzip body: ${(error as Error).message}`);
  }
}
