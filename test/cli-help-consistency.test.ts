// Help and arguments alike in every command: each accepted option is in --help, extra arguments and unknown options are one-line usage errors, --json errors are JSON.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { check } from '../src/cli/check.js';
import { configShow } from '../src/cli/config-show.js';
import { connect } from '../src/cli/coral-connect.js';
import { disconnect } from '../src/cli/coral-disconnect.js';
import { services } from '../src/cli/coral-services.js';
import { formatStatus, status } from '../src/cli/coral-status.js';
import { readAgentStatus } from '../src/cli/coral-fetch-status.js';
import { runCommand, type Command } from '../src/cli/main.js';
import { reload } from '../src/cli/reload.js';
import { runDaemonCommand } from '../src/daemon/run-command.js';
import { formatStatusLine } from '../src/daemon/status-line.js';

const AGENT_CLI = fileURLToPath(new URL('../src/cli/coral-agent.js', import.meta.url));
const CORAL_CLI = fileURLToPath(new URL('../src/cli/coral.js', import.meta.url));

interface Run { code: number; out: string; err: string }

async function setup(t: TestContext): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'coral-help-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'services.d'));
  const config = join(root, 'coral.yaml');
  await writeFile(config, `agent:\n  control:\n    socket: ${join(root, 'ctl.sock')}\n  services:\n    - name: api\n      port: 8080\n`);
  return config;
}

async function run(command: Command, args: string[], config: string): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCommand('coral', command, args, { out: (s) => out.push(s), err: (s) => err.push(s), env: { CORAL_CONFIG: config } });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Every option any command takes; each command must list in its --help all of those it accepts. */
const ALL_OPTIONS = ['config', 'help', 'json', 'sources', 'timeout', 'ports', 'exe', 'health', 'type', 'replace', 'wait', 'force', 'strict',
  'services-dir', 'log-level', 'beyla-binary', 'metrics-listen', 'control-socket'];

const COMMANDS: [string, Command, number][] = [
  ['coral-agent run', runDaemonCommand, 0],
  ['coral-agent reload', reload, 0],
  ['coral-agent check', check, 0],
  ['coral-agent config show', configShow, 0],
  ['coral connect', connect, 1],
  ['coral disconnect', disconnect, 1],
  ['coral services', services, 0],
  ['coral status', status, 0],
];

test('every option a command accepts is in its --help', async (t) => {
  const config = await setup(t);
  for (const [name, command] of COMMANDS) {
    const help = await run(command, ['--help'], config);
    assert.equal(help.code, 0, `${name} --help: ${help.err}`);
    assert.ok(help.out.startsWith(`Usage: ${name}`), `${name} --help starts with: ${help.out.slice(0, 60)}`);
    for (const option of ALL_OPTIONS) {
      // "--opt=x --help": an unknown option is refused before the help is printed.
      const probe = await run(command, [`--${option}=x`, '--help'], config);
      const accepted = !/Unknown option/.test(probe.err);
      if (accepted) assert.match(help.out, new RegExp(`(^|[\\s,])--${option}\\b`), `${name} accepts --${option} but its --help does not list it`);
    }
  }
});

test('extra arguments and unknown options: one line saying what, one pointing to --help, exit 64', async (t) => {
  const config = await setup(t);
  for (const [name, command, positionals] of COMMANDS) {
    const args = [...Array.from({ length: positionals }, (_, i) => `web${i}`), 'extra'];
    const extra = await run(command, args, config);
    assert.equal(extra.code, 64, `${name} ${args.join(' ')} was accepted: ${extra.out}${extra.err}`);
    const unknown = await run(command, ['--bogus'], config);
    assert.equal(unknown.code, 64, name);
    assert.deepEqual(unknown.err.split('\n'), ["coral: Unknown option '--bogus'", `  hint: see: ${name} --help`], name);
  }
});

test('version and config: --help prints help, extra arguments are refused', () => {
  const cli = (file: string, args: string[]) => spawnSync(process.execPath, [file, ...args], { encoding: 'utf8' });
  const coralVersion = cli(CORAL_CLI, ['version', '--help']);
  assert.equal(coralVersion.status, 0);
  assert.match(coralVersion.stdout, /^Usage: coral version\n/);
  assert.equal(cli(CORAL_CLI, ['version', 'extra']).status, 64);
  assert.match(cli(AGENT_CLI, ['version', '--help']).stdout, /^Usage: coral-agent version\n/);
  assert.equal(cli(AGENT_CLI, ['version', 'extra']).status, 64);
  const configHelp = cli(AGENT_CLI, ['config', '--help']);
  assert.equal(configHelp.status, 0);
  assert.ok(configHelp.stdout.split('\n').length > 10, `coral-agent config --help is: ${configHelp.stdout}`);
  assert.match(configHelp.stdout, /--sources/);
  assert.equal(cli(AGENT_CLI, ['config']).status, 64);
  assert.equal(cli(AGENT_CLI, ['config', 'show', 'extra']).status, 64);
});

test('under --json an error is one JSON document on stdout with its code and exit code', async (t) => {
  const config = await setup(t);
  const r = await run(status, ['--json'], config);
  assert.equal(r.code, 69);
  assert.equal(r.err, '');
  const body = JSON.parse(r.out) as { error: { code: string; exitCode: number; message: string; hint?: string } };
  assert.equal(body.error.code, 'AGENT_UNAVAILABLE');
  assert.equal(body.error.exitCode, 69);
  assert.match(body.error.message, /coral-agent is not running/);
});

test('the same invalid name gets the same exit code from connect and disconnect', async (t) => {
  const config = await setup(t);
  for (const name of ['Web', '../coral', 'a_b']) {
    const c = await run(connect, [`${name}:8081`], config);
    const d = await run(disconnect, [name], config);
    assert.equal(d.code, c.code, `connect ${name}: ${c.code}, disconnect ${name}: ${d.code}`);
    assert.equal(c.code, 65);
  }
});

test('counts agree with their nouns; health none reads none; STATUS= keeps only the reason line', async (t) => {
  const config = await setup(t);
  const summary = await run(check, [], config);
  assert.equal(summary.out, 'configuration OK: 1 service, 1 port (8080); 1 file');
  const lines = formatStatus(readAgentStatus({ state: 'ready', beyla: { state: 'ready' }, health: { web: { state: 'unknown', kind: 'none' } } }));
  assert.ok(lines.includes('  web  none (not checked)'), lines.join('\n'));
  const line = formatStatusLine({
    generation: 3, services: 1, ports: 1, rejected: 0, starting: false,
    beyla: { state: 'unavailable', reason: 'Beyla not found at /usr/bin/beyla\n  hint: install Beyla there or set agent.beyla.binary', instances: [] } as never,
  });
  assert.equal(line, 'gen 3: 1 service, 1 port; beyla unavailable: Beyla not found at /usr/bin/beyla');
});
