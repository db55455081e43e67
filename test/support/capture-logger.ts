// A logger for tests whose JSON records are collected in an array, to assert what was logged.
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', env: {}, destination }), lines };
}
