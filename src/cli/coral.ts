#!/usr/bin/env node
// `coral`: connect services to coral-agent and query it; each command is imported only when it runs (start-up time).
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { CoralError, EXIT } from '../errors.js';
import { parse } from './args.js';
import { CORAL_USAGE, CORAL_VERSION_USAGE } from './coral-usage.js';
import { editFastPath } from './edit-fast-path.js';
import { finish, runCommand, type Command } from './main.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const COMMANDS: Record<string, Command> = {
  // With the agent running, one request and next to nothing loaded; else (or on anything unusual) the full command.
  connect: async (args, io) => (await editFastPath('connect', args, io)) ?? (await import('./coral-connect.js')).connect(args, io),
  disconnect: async (args, io) => (await editFastPath('disconnect', args, io)) ?? (await import('./coral-disconnect.js')).disconnect(args, io),
  services: async (args, io) => (await import('./coral-services.js')).services(args, io),
  status: async (args, io) => (await import('./coral-status.js')).status(args, io),
  version: async (args, io) => {
    if (parse(args, { help: { type: 'boolean', short: 'h' } }, CORAL_VERSION_USAGE, { maxPositionals: 0 }).values.help) {
      io.out(CORAL_VERSION_USAGE);
      return EXIT.OK;
    }
    io.out(`coral ${version()}`);
    return EXIT.OK;
  },
};
COMMANDS.ls = COMMANDS.services!;

/** Runs `coral` with these arguments; `fast: false` when the launcher (coral-launcher.ts) already tried the agent's fast path. */
export async function main(argv: string[], opts: { fast: boolean } = { fast: true }): Promise<number> {
  const [name, ...rest] = argv;
  if (!opts.fast && (name === 'connect' || name === 'disconnect')) {
    const full = name === 'connect' ? (await import('./coral-connect.js')).connect : (await import('./coral-disconnect.js')).disconnect;
    return runCommand('coral', full, rest);
  }
  return runCommand('coral', async (_args, io) => {
    if (name === undefined || name === '--help' || name === '-h') {
      io.out(CORAL_USAGE);
      return name === undefined ? EXIT.USAGE : EXIT.OK;
    }
    if (name === 'help') {
      const topic = rest[0];
      if (topic === undefined) {
        io.out(CORAL_USAGE);
        return EXIT.OK;
      }
      const command = COMMANDS[topic];
      if (!command) throw new CoralError('USAGE', `unknown command "${topic}"`, { hint: 'run coral --help for the list' });
      return command(['--help'], io);
    }
    if (name === '--version' || name === '-V') return COMMANDS.version!(rest, io);
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!command) throw new CoralError('USAGE', `unknown command "${name}"`, { hint: 'run coral --help for the list' });
    return command(rest, io);
  }, rest);
}

// Run when this file is the program (not when the CommonJS launcher imports it).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) finish(await main(process.argv.slice(2)));
