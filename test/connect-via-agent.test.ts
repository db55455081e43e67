// `coral connect` and `disconnect` through the running agent with 10,000 drop-ins: concurrent connects all land, clashes are refused naming the holder, a killed lock holder is recovered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSnapshot } from '../src/store/load-snapshot.js';
import { createDaemonHarness, dropIn, type DaemonHarness } from './support/daemon-harness.js';

const CLI = fileURLToPath(new URL('../src/cli/coral.js', import.meta.url));
const LOCK_MODULE = fileURLToPath(new URL('../src/store/lock-services-dir.js', import.meta.url));
/** 10,000 by default: the agent's check is O(1) in the number of drop-ins and its watcher costs one lstat an event (70 s for this file at load average 12). */
const EXISTING = Number(process.env.CONNECT_AGENT_DROPINS ?? 10_000);

interface Exit { code: number | null; out: string; err: string }

function runCli(h: DaemonHarness, args: string[], children: Set<ChildProcess>): Promise<Exit> {
  const child = spawn(process.execPath, [CLI, ...args, '--config', h.configPath], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      children.delete(child);
      resolve({ code, out, err });
    });
  });
}

async function pool<T>(count: number, limit: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array<T>(count);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < count) {
      const i = next++;
      results[i] = await job(i);
    }
  }));
  return results;
}

const written = (h: DaemonHarness, from: number): string[] => h.logs.slice(from).filter((r) => r.msg.startsWith('coral connect: wrote')).map((r) => String(r.service));

test(`through the agent with ${EXISTING} drop-ins: 100 concurrent connects, clashes named, a killed lock holder recovered, disconnect`, { timeout: 900_000 }, async (t) => {
  const dropIns: Record<string, string> = {};
  for (let i = 0; i < EXISTING; i++) dropIns[`svc-${i}.yaml`] = dropIn(`svc-${i}`, 10_000 + i);
  const h = await createDaemonHarness(t, { debounce: '1s', maxWait: '10s', dropIns });
  const children = new Set<ChildProcess>();
  t.after(async () => {
    for (const child of children) {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'close');
    }
  });
  const startAt = Date.now();
  await h.start(120_000);
  t.diagnostic(`agent ready with ${EXISTING} drop-ins in ${Date.now() - startAt} ms`);

  // 100 at once: every one is decided by the agent, every file lands and is valid.
  let from = h.mark();
  const connectAt = Date.now();
  const runs = await pool(100, 16, (i) => runCli(h, ['connect', `new-${i}:${30_000 + i}:none`], children));
  t.diagnostic(`100 connects (16 at a time) in ${Date.now() - connectAt} ms`);
  assert.deepEqual(runs.map((r, i) => [i, r] as const).filter(([, r]) => r.code !== 0).map(([i, r]) => `new-${i}: ${r.code} ${r.err}`), []);
  assert.equal(new Set(written(h, from)).size, 100, 'the agent wrote every file (the CLI did not fall back to reading services.d)');
  const names = (await readdir(h.servicesDir)).filter((n) => n.endsWith('.yaml'));
  assert.equal(names.length, EXISTING + 100);
  const { snapshot } = await loadSnapshot({ configPath: h.configPath, env: {} });
  assert.deepEqual(snapshot.diagnostics.filter((d) => d.severity === 'error'), []);
  assert.equal(snapshot.services.length, EXISTING + 100);

  // Two names, one port, at once: one wins, the other is refused naming the winner's file and line.
  const [a, b] = await Promise.all([runCli(h, ['connect', 'clash-a:40000:none'], children), runCli(h, ['connect', 'clash-b:40000:none'], children)]);
  const winner = a.code === 0 ? 'clash-a' : 'clash-b';
  const loser = a.code === 0 ? b : a;
  assert.equal([a.code, b.code].sort().join(','), '0,65', `${a.err}\n${b.err}`);
  assert.match(loser.err, new RegExp(`port 40000 is already claimed by service "${winner}" \\(${path.join(h.servicesDir, `${winner}.yaml`)}:2\\)`));

  // A port held by one of the 10,000 files that were there before the agent started.
  const old = await runCli(h, ['connect', 'late:10005:none'], children);
  assert.equal(old.code, 65);
  assert.match(old.err, new RegExp(`port 10005 is already claimed by service "svc-5" \\(${path.join(h.servicesDir, 'svc-5.yaml')}:1\\)`));

  // A file written by hand, without the lock, just now: seen before the write.
  await writeFile(path.join(h.servicesDir, 'hand.yaml'), 'name: hand\nport: 40001\nhealth: none\n');
  const afterHand = await runCli(h, ['connect', 'after-hand:40001:none'], children);
  assert.equal(afterHand.code, 65, afterHand.out);
  assert.match(afterHand.err, /port 40001 is already claimed by service "hand" \(.*hand\.yaml:1\)/);

  // A writer killed while holding the lock: the agent takes the stale lock over.
  const holder = spawn(process.execPath, ['--input-type=module', '-e', `
    const { lockServicesDir } = await import(${JSON.stringify(LOCK_MODULE)});
    await lockServicesDir({ dir: ${JSON.stringify(h.servicesDir)} }, async () => {
      console.log('locked');
      await new Promise(() => setInterval(() => {}, 1000));
    });
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(holder);
  const [line] = await once(holder.stdout, 'data') as [Buffer];
  assert.equal(line.toString().trim(), 'locked');
  holder.kill('SIGKILL');
  await once(holder, 'close');
  assert.ok((await stat(path.join(h.servicesDir, '.coral.lock'))).isDirectory(), 'SIGKILL left the lock behind');
  from = h.mark();
  const recovered = await runCli(h, ['connect', 'recovered:40002:none'], children);
  assert.equal(recovered.code, 0, recovered.err);
  assert.deepEqual(written(h, from), ['recovered']);

  // Disconnect goes through the agent too.
  from = h.mark();
  const gone = await runCli(h, ['disconnect', 'recovered'], children);
  assert.equal(gone.code, 0, gone.err);
  assert.match(gone.out, /^Disconnected service recovered/m);
  assert.ok(h.logs.slice(from).some((r) => r.msg === 'coral disconnect: removed recovered.yaml'));
  await h.stop();
});
