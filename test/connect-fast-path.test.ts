// `coral connect` / `disconnect` with the agent running take the fast path (one request, no YAML parser, no validators, no node:http) and say exactly what the full command says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../src/cli/coral-connect.js';
import { disconnect } from '../src/cli/coral-disconnect.js';
import { runCommand } from '../src/cli/main.js';
import { guessSocket } from '../src/cli/edit-fast-path.js';
import { createDaemonHarness, type DaemonHarness } from './support/daemon-harness.js';
import { reap } from './support/reap.js';

const CLI = fileURLToPath(new URL('../src/cli/coral.js', import.meta.url));
/** The CommonJS launcher the package runs (npm run build makes it with esbuild). */
const LAUNCHER = fileURLToPath(new URL('../bundle/cli/coral.cjs', import.meta.url));

/**
 * A module hook that fails any import of what the fast path must not load. From dist/src the full
 * command imports all of these (coral-connect.js -> parse-drop-in.js -> yaml; control-request.js ->
 * node:http); the launcher imports ./coral.js (the ES module CLI) only to fall back. So a fallback
 * under this hook fails the command.
 */
function forbidding(specifiers: string[]): string {
  const hook = `
const FORBIDDEN = ${JSON.stringify(specifiers)};
export async function resolve(specifier, context, next) {
  if (FORBIDDEN.some((f) => specifier === f || specifier.endsWith('/' + f))) throw new Error('the fast path imported ' + specifier);
  return next(specifier, context);
}`;
  return `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module';\nregister(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`)}`;
}

interface Cli { path: string; forbid: string }

const SOURCE_CLI: Cli = { path: CLI, forbid: forbidding(['yaml', 'ajv', 'node:http', 'http', 'proper-lockfile', 'pino', 'chokidar', 'coral-connect.js', 'coral-disconnect.js']) };
const LAUNCHER_CLI: Cli = { path: LAUNCHER, forbid: forbidding(['./coral.js']) };

interface Run { code: number | null; out: string; err: string }

function runProcess(h: DaemonHarness, args: string[], cli: Cli, forbid: boolean): Promise<Run> {
  const child = spawn(process.execPath, [...(forbid ? ['--import', cli.forbid] : []), cli.path, ...args], {
    env: { PATH: process.env.PATH ?? '', CORAL_CONFIG: h.configPath }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000).unref(); // a hung child is SIGKILLed, so the awaited exit still comes and nothing outlives the test
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, out: out.trimEnd(), err: err.trimEnd() });
    });
  });
}

async function runInProcess(h: DaemonHarness, args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const [name, ...rest] = args;
  const code = await runCommand('coral', name === 'connect' ? connect : disconnect, rest, {
    out: (t) => out.push(t), err: (t) => err.push(t), env: { CORAL_CONFIG: h.configPath },
  });
  return { code, out: out.join('\n').trimEnd(), err: err.join('\n').trimEnd() };
}

/** Each step, and whether the agent decides it on the fast path (else the command falls back to the full path and its exact words). */
const STEPS: Array<{ args: string[]; fast: boolean }> = [
  { args: ['connect', 'api:8081:none'], fast: true },
  { args: ['connect', 'api:8081:none'], fast: true },
  { args: ['connect', 'api', '--ports', '8081-8082,9000-9010', '--exe', '*api*', '--health', 'http:/healthz', '--type', 'grpc'], fast: true },
  { args: ['connect', 'api:8081'], fast: true },
  { args: ['connect', 'other:8081:none'], fast: true },
  { args: ['connect', 'web:8090:none'], fast: true },
  { args: ['connect', 'legacy:5001:none'], fast: true },
  { args: ['connect', 'legacy:5001:none', '--replace'], fast: true },
  { args: ['connect', 'hand:6001:none'], fast: true },
  { args: ['connect', 'hand:6001:none', '--force'], fast: true },
  { args: ['connect', 'Bad_Name:1'], fast: false },
  { args: ['connect', 'big:70000'], fast: false },
  { args: ['connect', 'two:1', 'three:2'], fast: false },
  { args: ['connect', '--help'], fast: false },
  { args: ['disconnect', 'legacy'], fast: true },
  { args: ['disconnect', 'legacy'], fast: true },
  { args: ['disconnect', 'apj'], fast: true },
  { args: ['disconnect', 'api'], fast: true },
  { args: ['disconnect', 'web'], fast: true },
  { args: ['disconnect', 'No'], fast: false },
];

async function agent(t: Parameters<typeof createDaemonHarness>[0]): Promise<DaemonHarness> {
  // A long debounce: no swap during the steps, so both agents report the same Beyla state.
  const h = await createDaemonHarness(t, {
    debounce: '10m', maxWait: '20m',
    dropIns: { 'team.yaml': 'services:\n  - name: web\n    port: 80\n    health: none\n  - name: worker\n    port: 81\n    health: none\n', 'hand.yaml': 'name: hand\nport: 6000\nhealth: none\n' },
  });
  // Health checks that are valid with the harness's 1 s interval, and a service in coral.yaml itself.
  const text = await readFile(h.configPath, 'utf8');
  await writeFile(h.configPath, `${text.replace('    interval: 1s\n', '    interval: 1s\n    timeout: 500ms\n')}  services:\n    - name: legacy\n      port: 5000\n      health: none\n`);
  await h.start();
  return h;
}

for (const [what, cli] of [['dist/src/cli/coral.js', SOURCE_CLI], ['the launcher, dist/bundle/cli/coral.cjs', LAUNCHER_CLI]] as const) {
  test(`with the agent running, connect and disconnect (${what}) say exactly what the full command says; the decided ones load no parser`, {
    timeout: 300_000, skip: !existsSync(cli.path) && `${cli.path} is not built (npm run build with esbuild)`,
  }, async (t) => {
    const [fast, full] = await Promise.all([agent(t), agent(t)]);
    const norm = (r: Run, h: DaemonHarness): Run => ({ code: r.code, out: r.out.split(h.dir).join('<dir>'), err: r.err.split(h.dir).join('<dir>') });
    for (const step of STEPS) {
      const a = norm(await runProcess(fast, step.args, cli, step.fast), fast);
      const b = norm(await runInProcess(full, step.args), full);
      assert.deepEqual(a, b, `coral ${step.args.join(' ')}`);
    }
    // Each write and removal was the agent's (the full command in-process also asks the agent).
    const edits = (h: DaemonHarness): string[] => h.logs.filter((r) => /^coral (connect: wrote|disconnect: removed)/.test(r.msg)).map((r) => r.msg);
    assert.deepEqual(edits(fast), edits(full));
    assert.ok(edits(fast).length >= 6, edits(fast).join('\n'));
    await Promise.all([fast.stop(), full.stop()]);
  });
}

test('an agent that follows another coral.yaml is not used: the command writes itself', { timeout: 120_000 }, async (t) => {
  const h = await agent(t);
  // Same socket, another file: the agent resolves it, sees another configuration and answers 409.
  const other = path.join(h.dir, 'other.yaml');
  await writeFile(other, `agent:\n  services_dir: other.d\n  control:\n    socket: ${h.socketPath}\n`);
  const child = spawn(process.execPath, [CLI, 'connect', 'solo:7100:none', '--config', other], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => reap(child));
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  assert.match(out, /^Connected service solo on port 7100$/m);
  assert.equal((await readFile(path.join(h.dir, 'other.d', 'solo.yaml'), 'utf8')).split('\n')[1], 'name: solo');
  assert.ok(!h.logs.some((r) => r.msg === 'coral connect: wrote solo.yaml'), 'the agent did not write it');
  await h.stop();
});

test('the socket guess reads flags, then CORAL_CONTROL_SOCKET, then a plain socket: line, else gives up', () => {
  assert.equal(guessSocket('agent: {}\n', {}, { 'control-socket': '/f.sock' }), '/f.sock');
  assert.equal(guessSocket('agent: {}\n', { CORAL_CONTROL_SOCKET: '/e.sock' }, {}), '/e.sock');
  assert.equal(guessSocket('agent: {}\n', {}, {}), '/run/coral-agent/control.sock');
  assert.equal(guessSocket('agent:\n  control:\n    socket: /x/ctl.sock # here\n', {}, {}), '/x/ctl.sock');
  assert.equal(guessSocket('agent:\n  control:\n    socket: "/x y/ctl.sock"\n', {}, {}), '/x y/ctl.sock');
  assert.equal(guessSocket('agent:\n  control: {socket: /x/ctl.sock}\n', {}, {}), undefined);
  assert.equal(guessSocket('agent:\n  control:\n    socket: /a\n# socket: /b\nx:\n  socket: /c\n', {}, {}), undefined);
});
