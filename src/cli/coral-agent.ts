#!/usr/bin/env node
// `coral-agent`: the daemon (run), its reload trigger, and the offline tools (check, config show).
import { readFileSync } from 'node:fs';
import { CoralError, EXIT } from '../errors.js';
import { check } from './check.js';
import { parse } from './args.js';
import { AGENT_CONFIG_USAGE, AGENT_USAGE, AGENT_VERSION_USAGE } from './coral-agent-usage.js';
import { configShow } from './config-show.js';
import { finish, runCommand, type Command } from './main.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const COMMANDS: Record<string, Command> = {
  check,
  config: async (args, io) => {
    const [sub, ...rest] = args;
    if (sub === 'show') return configShow(rest, io);
    if (sub === '--help' || sub === '-h') {
      io.out(AGENT_CONFIG_USAGE);
      return EXIT.OK;
    }
    if (sub === undefined) throw new CoralError('USAGE', 'which config command? there is one: show', { hint: 'see: coral-agent config --help' });
    throw new CoralError('USAGE', `unknown config command "${sub}"`, { hint: 'see: coral-agent config --help' });
  },
  doctor: async (args, io) => (await import('./doctor.js')).doctor(args, io),
  run: async (args, io) => (await import('../daemon/run-command.js')).runDaemonCommand(args, io),
  reload: async (args, io) => (await import('./reload.js')).reload(args, io),
  version: async (args, io) => {
    if (parse(args, { help: { type: 'boolean', short: 'h' } }, AGENT_VERSION_USAGE, { maxPositionals: 0 }).values.help) {
      io.out(AGENT_VERSION_USAGE);
      return EXIT.OK;
    }
    io.out(`coral-agent ${version()}`);
    return EXIT.OK;
  },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  return runCommand('coral-agent', async (_args, io) => {
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      io.out(AGENT_USAGE);
      return name === undefined ? EXIT.USAGE : EXIT.OK;
    }
    if (name === '--version' || name === '-V') return COMMANDS.version!(rest, io);
    const command = COMMANDS[name];
    if (!command) throw new CoralError('USAGE', `unknown command "${name}"`, { hint: 'run coral-agent --help for the list' });
    return command(rest, io);
  }, rest);
}

finish(await main(process.argv.slice(2)));
