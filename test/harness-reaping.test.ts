// A test process killed mid-test (as a file timeout does, without running t.after) takes the agent and the Beyla doubles it started with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isAlive, waitUntil } from './support/daemon-harness.js';
import { freePort } from './support/free-port.js';

test('SIGKILL of a test process running a daemon harness: its agent and Beyla double die with it', async (t) => {
  const script = fileURLToPath(new URL('./support/harness-child.js', import.meta.url));
  const child = spawn(process.execPath, [script, String(await freePort())], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the harness child exited (${code}) before it was ready`)));
  });
  const { agent, beyla, dir } = JSON.parse(line) as { agent: number; beyla: number; dir: string };
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.ok(isAlive(agent) && isAlive(beyla), 'the agent and its Beyla run');
  child.kill('SIGKILL');
  try {
    await waitUntil('the agent and its Beyla double to be gone', () => !isAlive(agent) && !isAlive(beyla), 10_000);
  } finally {
    for (const pid of [agent, beyla]) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
});
