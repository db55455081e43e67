// Runs a command function with the process's io and turns errors into messages and sysexits codes.
import { CoralError, EXIT } from '../errors.js';
import { processIo, type Io } from './io.js';

export type Command = (args: string[], io: Io) => Promise<number>;

export async function runCommand(name: string, command: Command, args: string[], io: Io = processIo()): Promise<number> {
  try {
    return await command(args, io);
  } catch (error) {
    if (error instanceof CoralError) {
      io.err(`${name}: ${error.format()}`);
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
