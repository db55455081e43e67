// Runs a command function with the process's io and turns errors into messages (JSON under --json) and sysexits codes.
import { CoralError, EXIT } from '../errors.js';
import { processIo, type Io } from './io.js';

export type Command = (args: string[], io: Io) => Promise<number>;

/** Whether the command line asks for JSON (an argument after "--" is not an option). */
export function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--json');
}

/** The error as one JSON document on stdout, for scripts that asked for --json. */
export function errorJson(name: string, error: unknown): string {
  const coral = error instanceof CoralError ? error : undefined;
  return JSON.stringify({
    error: {
      command: name,
      code: coral?.code ?? 'INTERNAL',
      exitCode: coral?.exitCode ?? EXIT.SOFTWARE,
      message: coral ? coral.message : `internal error: ${error instanceof Error ? error.message : String(error)}`,
      ...(coral?.hint ? { hint: coral.hint } : {}),
      ...(coral && Object.keys(coral.details).length > 0 ? { details: coral.details } : {}),
    },
  }, null, 2);
}

export async function runCommand(name: string, command: Command, args: string[], io: Io = processIo()): Promise<number> {
  try {
    return await command(args, io);
  } catch (error) {
    if (wantsJson(args)) io.out(errorJson(name, error));
    if (error instanceof CoralError) {
      if (!wantsJson(args)) io.err(`${name}: ${error.format()}`);
      return error.exitCode;
    }
    io.err(`${name}: internal error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    return EXIT.SOFTWARE;
  }
}

/** Set the exit code and let Node exit when the event loop drains (stdout is flushed). */
export function finish(code: number): void {
  process.exitCode = code;
}
