// The world a command sees: output streams and environment, passed in so commands are testable in-process.
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
}

/** The status a Unix tool ends with when its reader went away (killed by SIGPIPE: 128 + 13). */
export const BROKEN_PIPE_EXIT = 141;

/**
 * When the reader of stdout or stderr is gone (`coral status | head -1`), stop at once and quietly,
 * as Unix tools do, instead of crashing on EPIPE with a stack trace. Node ignores SIGPIPE, so the
 * write fails with EPIPE and the stream emits 'error'; any other write error is rethrown.
 */
export function exitQuietlyOnBrokenPipe(stream: NodeJS.WriteStream, exit: (code: number) => void = (code) => process.exit(code)): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') exit(BROKEN_PIPE_EXIT);
    else throw error;
  });
}

export function processIo(): Io {
  exitQuietlyOnBrokenPipe(process.stdout);
  exitQuietlyOnBrokenPipe(process.stderr);
  return {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    env: process.env,
  };
}
