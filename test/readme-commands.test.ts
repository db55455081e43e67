// The README's command blocks run as written and in order: the `coral` commands here against a running agent (Beyla double, temp root); all of them, systemctl too, in test/e2e on a real systemd.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createDaemonHarness } from './support/daemon-harness.js';
import { readmeCommands, readmeShellBlocks } from './support/readme-commands.js';
import { reap } from './support/reap.js';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const CORAL = fileURLToPath(new URL('../src/cli/coral.js', import.meta.url));

test('every shell block of the README is marked: runs-as-written or not-run with a reason', async () => {
  const blocks = readmeShellBlocks(await readFile(README, 'utf8'));
  assert.ok(blocks.filter((b) => b.runs).length >= 2, 'the README has no blocks marked runs-as-written');
  assert.throws(() => readmeShellBlocks('text\n\n```sh\ncoral status\n```\n'), /README\.md:3: a shell block needs/);
  assert.deepEqual(readmeShellBlocks('<!-- not-run: needs a cluster -->\n```sh\nkubectl get pods\n```\n'), [{ line: 2, runs: false, commands: ['kubectl get pods'] }]);
  assert.deepEqual(readmeCommands('<!-- runs-as-written -->\n\n```sh\n# a comment\ncoral status   # the state\n\n```\n```console\n$ coral x\n```\n'), ['coral status   # the state']);
});

test('the README\'s coral commands run as written, in order, against a running agent (systemctl and journalctl lines: in the e2e)', async (t) => {
  const h = await createDaemonHarness(t, { debounce: '200ms' });
  // The packaged defaults for health checks (the harness checks every second, shorter than an http check's timeout).
  const config = await readFile(h.configPath, 'utf8');
  await writeFile(h.configPath, config.replace(/^ {2}health:\n {4}interval: .*\n/m, ''));
  await h.start();
  const bin = join(h.dir, 'bin');
  await mkdir(bin);
  await writeFile(join(bin, 'coral'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CORAL)} "$@"\n`);
  await chmod(join(bin, 'coral'), 0o755);
  const env = { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, CORAL_CONFIG: h.configPath };
  const ran: string[] = [];
  for (const command of readmeCommands(await readFile(README, 'utf8'))) {
    if (/^(systemctl|journalctl)\b/.test(command)) continue; // the unit's commands: only a real systemd runs them (test/e2e)
    const child = spawn('bash', ['-c', command], { cwd: h.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => reap(child));
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { output += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { output += d; });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0, `README command exits ${code}: ${command}\n${output}`);
    ran.push(command.split('#')[0]!.trim());
  }
  assert.ok(ran.some((c) => c.startsWith('coral connect')), `no coral connect among the README's commands: ${ran.join('; ')}`);
});
