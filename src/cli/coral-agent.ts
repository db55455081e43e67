#!/usr/bin/env node
// `coral-agent`: the daemon (run), its reload trigger, and the offline tools (check, config show).
import { readFileSync } from 'node:fs';
import { CoralError, EXIT } from '../errors.js';
import { check } from './check.js';
import { parse } from './args.js';
import { CONFIG_SHOW_USAGE, configShow } from './config-show.js';
import { finish, runCommand, type Command } from './main.js';

const USAGE = `Usage: coral-agent <command> [options]

Keeps Grafana Beyla's eBPF instrumentation in step with the services on this host.

Commands:
  run             run the daemon (what systemd starts)
  reload          ask the running daemon to re-read its configuration and wait for the result
  check           validate coral.yaml and services.d, print problems as file:line:col
  config show     print the effective configuration (--sources: where each value comes from)
  doctor          check whether Beyla can work on this host (kernel, kprobes, capabilities...)
  version         print the version

Every command takes --config PATH (default: $CORAL_CONFIG, else /etc/coral/coral.yaml)
and --help. Exit codes follow sysexits: 0 ok, 64 usage, 65 invalid config, 66 no config,
69 agent or Beyla unavailable, 73 cannot create, 75 temporary failure, 78 configuration error (doctor).`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const CONFIG_USAGE = `Usage: coral-agent config show [--config PATH] [--json] [--sources]

The configuration commands. There is one:
  show    print the effective configuration (--sources: where each value comes from)

${CONFIG_SHOW_USAGE.slice(CONFIG_SHOW_USAGE.indexOf('\n\n') + 2)}`;

const VERSION_USAGE = `Usage: coral-agent version

Print the version of coral-agent (also: coral-agent --version).

Exit codes: 0 printed, 64 usage.`;

const COMMANDS: Record<string, Command> = {
  check,
  config: async (args, io) => {
    const [sub, ...rest] = args;
    if (sub === 'show') return configShow(rest, io);
    if (sub === '--help' || sub === '-h') {
      io.out(CONFIG_USAGE);
      return EXIT.OK;
    }
    if (sub === undefined) throw new CoralError('USAGE', 'which config command? there is one: show', { hint: 'see: coral-agent config --help' });
    throw new CoralError('USAGE', `unknown config command "${sub}"`, { hint: 'see: coral-agent config --help' });
  },
  doctor: async (args, io) => (await import('./doctor.js')).doctor(args, io),
  run: async (args, io) => (await import('../daemon/run-command.js')).runDaemonCommand(args, io),
  reload: async (args, io) => (await import('./reload.js')).reload(args, io),
  version: async (args, io) => {
    if (parse(args, { help: { type: 'boolean', short: 'h' } }, VERSION_USAGE, { maxPositionals: 0 }).values.help) {
      io.out(VERSION_USAGE);
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
      io.out(USAGE);
      return name === undefined ? EXIT.USAGE : EXIT.OK;
    }
    if (name === '--version' || name === '-V') return COMMANDS.version!(rest, io);
    const command = COMMANDS[name];
    if (!command) throw new CoralError('USAGE', `unknown command "${name}"`, { hint: 'run coral-agent --help for the list' });
    return command(rest, io);
  }, rest);
}

finish(await main(process.argv.slice(2)));
