// Every CLI piped into a reader that has gone (`coral status | head -1`) exits quietly with 141, as Unix tools do: no EPIPE stack trace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const AGENT_CLI = fileURLToPath(new URL('../src/cli/coral-agent.js', import.meta.url));
const CORAL_CLI = fileURLToPath(new URL('../src/cli/coral.js', import.meta.url));

/**
 * Runs the CLI with stdout a pipe whose only reader is already closed: a shell waits on stdin,
 * the test closes its end of stdout, then lets the shell exec node (so the order is certain).
 */
async function runIntoClosedPipe(cli: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const child = spawn('/bin/sh', ['-c', 'read go; exec "$0" "$@"', process.execPath, cli, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  await new Promise<void>((resolve) => { child.stdout.once('close', () => resolve()); child.stdout.destroy(); });
  child.stdin.end('go\n');
  const deadline = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    return { ...(await exited), stderr };
  } finally {
    clearTimeout(deadline);
  }
}

test('coral-agent, coral: a closed stdout ends the command quietly with 141', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'coral-epipe-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const config = join(root, 'coral.yaml');
  await mkdir(join(root, 'services.d'));
  await writeFile(config, `agent:\n  control:\n    socket: ${join(root, 'ctl.sock')}\n  services:\n    - name: api\n      port: 8080\n`);
  await writeFile(join(root, 'services.d', 'web.yaml'), 'name: web\nport: 3000\n');
  const env = { CORAL_CONFIG: config };
  const cases: [string, string[]][] = [
    [AGENT_CLI, ['config', 'show']],
    [AGENT_CLI, ['check']],
    [AGENT_CLI, ['--help']],
    [CORAL_CLI, ['services']],
    [CORAL_CLI, ['--help']],
  ];
  for (const [cli, args] of cases) {
    const name = `${cli === AGENT_CLI ? 'coral-agent' : 'coral'} ${args.join(' ')}`;
    const r = await runIntoClosedPipe(cli, args, env);
    assert.doesNotMatch(r.stderr, /EPIPE|Error|at /, `${name} printed: ${r.stderr}`);
    assert.deepEqual({ code: r.code, signal: r.signal }, { code: 141, signal: null }, `${name}: ${r.stderr}`);
  }
});
