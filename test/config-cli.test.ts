// `coral-agent check` and `coral-agent config show` as real child processes: output lines, summaries, JSON and exit codes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli/coral-agent.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../../test/fixtures/config/', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const deadline = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c) => resolve(c));
    });
    return { code, stdout, stderr };
  } finally {
    clearTimeout(deadline);
  }
}

/** A config dir with coral.yaml (service api on 8080) and services.d holding the given drop-ins. */
async function configDir(t: TestContext, dropIns: Record<string, string>, main = 'agent:\n  metrics:\n    listen: 127.0.0.1:9999\n  services:\n    - name: api\n      port: 8080\n'): Promise<{ root: string; config: string; dir: string }> {
  const root = await mkdtemp(join(tmpdir(), 'coral-cli-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'services.d');
  await mkdir(dir);
  await chmod(dir, 0o755);
  const config = join(root, 'coral.yaml');
  await writeFile(config, main);
  for (const [name, text] of Object.entries(dropIns)) await writeFile(join(dir, name), text);
  return { root, config, dir };
}

const WEB = 'name: web\nport: 3000\nhealth: http:/healthz\n';

test('check: a valid configuration exits 0 with a summary', async (t) => {
  const { config } = await configDir(t, { '10-web.yaml': WEB, 'README.md': 'not a drop-in', '10-web.yaml~': 'garbage: [', '.10-web.yaml.swp': '\u0000' });
  const r = await run(['check', '--config', config]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, 'configuration OK: 2 services, 2 ports (3000,8080); 2 files\n');
});

test('check: each problem as path:line:col: error: message with a hint, then the summary; exit 65', async (t) => {
  const { config, dir } = await configDir(t, {
    '10-web.yaml': WEB,
    '20-db.yaml': await readFile(join(FIXTURES, 'bad/unknown-key.yaml'), 'utf8'),
    '30-clash.yaml': 'name: admin\nport: 3000\n',
  });
  const r = await run(['check', '--config', config]);
  assert.equal(r.code, 65);
  assert.equal(r.stderr, [
    `${dir}/20-db.yaml:2:1: error: unknown key "prot" at the top level`,
    '  hint: did you mean "port"?',
    `${dir}/30-clash.yaml:1:1: error: port 3000 of service "admin" is already used by service "web" (${dir}/10-web.yaml:1); this file is rejected`,
    `  hint: each port belongs to one service: change the port here or in ${dir}/10-web.yaml`,
    '',
  ].join('\n'));
  assert.equal(r.stdout, 'configuration INVALID: 2 services, 2 ports (3000,8080); 2 of 4 files rejected\n');
});

test('check: the same service in two places is a warning naming both, not an error', async (t) => {
  const { config, dir, root } = await configDir(t, { '50-api.yaml': 'name: api\nport: 8081\n' });
  const r = await run(['check', '--config', config]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, [
    `${dir}/50-api.yaml:1:1: warning: service "api" here replaces the one defined at ${root}/coral.yaml:5`,
    '  hint: the later file wins: drop-ins after coral.yaml, in lexical order',
    'configuration OK: 1 service, 1 port (8081); 2 files',
    '',
  ].join('\n'));
});

test('check --json: valid flag, summary, per-file errors with line and column', async (t) => {
  const { config, dir } = await configDir(t, { '10-web.yaml': WEB, '20-bad.yaml': 'name: web2\nport: 0\n' });
  const r = await run(['check', '--json', '-c', config]);
  assert.equal(r.code, 65);
  const out = JSON.parse(r.stdout) as {
    valid: boolean; config: string; servicesDir: string; ports: string;
    summary: { services: number; ports: number; files: number; filesRejected: number };
    services: { name: string }[];
    files: { file: string; valid: boolean; services: string[]; errors: { line: number; col: number; message: string }[] }[];
    diagnostics: { file: string; line: number; col: number; severity: string; message: string }[];
  };
  assert.equal(out.valid, false);
  assert.equal(out.config, config);
  assert.equal(out.servicesDir, dir);
  assert.deepEqual(out.summary, { services: 2, ports: 2, files: 3, filesRejected: 1 });
  assert.equal(out.ports, '3000,8080');
  assert.deepEqual(out.services.map((s) => s.name), ['api', 'web']);
  assert.deepEqual(out.files.map((f) => [f.file, f.valid, f.services]), [[config, true, ['api']], [`${dir}/10-web.yaml`, true, ['web']], [`${dir}/20-bad.yaml`, false, []]]);
  assert.deepEqual(out.files[2]?.errors.map((e) => [e.line, e.col, e.message]), [[2, 7, 'port is 0, outside 1-65535']]);
  assert.deepEqual(out.diagnostics.map((d) => `${d.file}:${d.line}:${d.col}: ${d.severity}`), [`${dir}/20-bad.yaml:2:7: error`]);
});

test('check: a missing main file exits 66', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'coral-cli-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const r = await run(['check', '--config', join(root, 'coral.yaml')]);
  assert.equal(r.code, 66);
  assert.match(r.stderr, /coral\.yaml: no such file/);
  const viaEnv = await run(['check'], { CORAL_CONFIG: join(root, 'nope.yaml') });
  assert.equal(viaEnv.code, 66);
  assert.match(viaEnv.stderr, /nope\.yaml: no such file/);
});

test('usage errors exit 64', async () => {
  const unknownFlag = await run(['check', '--bogus']);
  assert.equal(unknownFlag.code, 64, unknownFlag.stderr);
  assert.match(unknownFlag.stderr, /Unknown option '--bogus'/);
  const missingValue = await run(['check', '--config']);
  assert.equal(missingValue.code, 64, missingValue.stderr);
  for (const args of [['config'], ['config', 'shw'], ['frobnicate']]) {
    const r = await run(args);
    assert.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`);
  }
});

test('check: an invalid main file exits 65 with its position', async (t) => {
  const { config } = await configDir(t, {}, 'agent:\n  beyla:\n    debounse: 2s\n');
  const r = await run(['check', '--config', config]);
  assert.equal(r.code, 65);
  assert.match(r.stderr, new RegExp(`^${config}:3:5: error: unknown key "debounse" in agent\\.beyla\\n  hint: did you mean "debounce"\\?\\n$`));
  assert.match(r.stdout, /^configuration INVALID: 0 services, 0 ports; 1 of 1 file rejected\n$/);
});

test('config show --sources: default, file:line:col, env and flag, later ones winning', async (t) => {
  const { config, root } = await configDir(t, { '10-web.yaml': WEB }, 'agent:\n  log_level: debug\n  beyla:\n    debounce: 2s\n    max_wait: 45s\n');
  const r = await run(['config', 'show', '--sources', '--config', config, '--log-level', 'error'], { CORAL_BEYLA_DEBOUNCE: '7s', CORAL_LOG_LEVEL: 'warn' });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const line = (key: string): string => lines.find((l) => l.startsWith(`${key}:`)) ?? `(no ${key})`;
  assert.match(line('agent.log_level'), /^agent\.log_level: error +# flag --log-level$/);
  assert.match(line('agent.beyla.debounce'), /^agent\.beyla\.debounce: 7s +# env CORAL_BEYLA_DEBOUNCE$/);
  assert.match(line('agent.beyla.max_wait'), new RegExp(`^agent\\.beyla\\.max_wait: 45s +# ${config}:5:15$`));
  assert.match(line('agent.beyla.readiness.timeout'), /^agent\.beyla\.readiness\.timeout: 45s +# default$/);
  assert.match(line('agent.services_dir'), new RegExp(`^agent\\.services_dir: ${root}/services\\.d +# default$`));
  assert.match(line('config'), /# flag --config$/);
  assert.ok(lines.includes(`  - web: ports 3000, health http /healthz  # ${root}/services.d/10-web.yaml:1:1`), r.stdout);

  const plain = await run(['config', 'show', '--config', config]);
  assert.match(plain.stdout, /^agent\.beyla\.debounce: 2s$/m);
  assert.doesNotMatch(plain.stdout, /#/);
});

test('config show --json --sources: nested settings in file units, sources by key, services', async (t) => {
  const { config } = await configDir(t, { '10-web.yaml': WEB }, 'agent:\n  beyla:\n    debounce: 2s\n');
  const r = await run(['config', 'show', '--json', '--sources', '--config', config, '--log-level', 'debug'], { CORAL_BEYLA_MAX_WAIT: '1m' });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { settings: { agent: { log_level: string; beyla: { debounce: number; max_wait: number } } }; sources: Record<string, unknown>; services: { name: string; ports: unknown }[] };
  assert.equal(out.settings.agent.log_level, 'debug');
  assert.equal(out.settings.agent.beyla.debounce, 2000);
  assert.equal(out.settings.agent.beyla.max_wait, 60_000);
  assert.deepEqual(out.sources['agent.beyla.debounce'], { kind: 'file', name: config, line: 3, col: 15 });
  assert.deepEqual(out.sources['agent.beyla.max_wait'], { kind: 'env', name: 'CORAL_BEYLA_MAX_WAIT' });
  assert.deepEqual(out.sources['agent.log_level'], { kind: 'flag', name: 'log-level' });
  assert.deepEqual(out.sources['agent.health.interval'], { kind: 'default' });
  assert.deepEqual(out.services.map((s) => [s.name, s.ports]), [['web', [{ from: 3000, to: 3000 }]]]);
  const withoutSources = JSON.parse((await run(['config', 'show', '--json', '--config', config])).stdout) as Record<string, unknown>;
  assert.equal(withoutSources.sources, undefined);
});

test('config show: a bad environment value is reported and the file value shown', async (t) => {
  const { config } = await configDir(t, {}, 'agent:\n  beyla:\n    debounce: 2s\n');
  const r = await run(['config', 'show', '--sources', '--config', config], { CORAL_BEYLA_DEBOUNCE: 'soon' });
  assert.equal(r.code, 0);
  assert.match(r.stderr, /^environment variable CORAL_BEYLA_DEBOUNCE: error: agent\.beyla\.debounce: "soon" is not a duration/m);
  assert.match(r.stdout, new RegExp(`^agent\\.beyla\\.debounce: 2s +# ${config}:3:15$`, 'm'));
});
