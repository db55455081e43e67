// Many `coral connect` processes at once: every file valid and complete, a polling reader never sees a partial one, a killed lock holder is recovered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDropIn } from '../src/config/parse-drop-in.js';
import { compileValidators } from '../src/config/schema-validate.js';
import { loadSnapshot } from '../src/store/load-snapshot.js';
import { isDropInName } from '../src/config/ignored-names.js';

const CLI = fileURLToPath(new URL('../src/cli/coral.js', import.meta.url));
const LOCK_MODULE = fileURLToPath(new URL('../src/store/lock-services-dir.js', import.meta.url));
const HEALTH = { intervalMs: 10_000, timeoutMs: 2000, unhealthyThreshold: 3, healthyThreshold: 1 };

interface Exit { code: number | null; signal: NodeJS.Signals | null; out: string; err: string }

function runCli(args: string[], configPath: string, children: Set<ChildProcess>): Promise<Exit> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', CORAL_CONFIG: configPath }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, out, err });
    });
  });
}

/** Run all jobs, at most `limit` at a time; returns results in order and the largest number in flight. */
async function pool<T>(count: number, limit: number, job: (i: number) => Promise<T>): Promise<{ results: T[]; maxInFlight: number }> {
  const results: T[] = new Array(count);
  let next = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        results[i] = await job(i);
      } finally {
        inFlight--;
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return { results, maxInFlight };
}

async function setup(t: { after(fn: () => Promise<void>): void }): Promise<{ dir: string; config: string; services: string; children: Set<ChildProcess> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'coral-conc-'));
  const children = new Set<ChildProcess>();
  t.after(async () => {
    for (const child of children) {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'close');
    }
    await rm(dir, { recursive: true, force: true });
  });
  const config = path.join(dir, 'coral.yaml');
  await writeFile(config, `agent:\n  control:\n    socket: ${path.join(dir, 'ctl.sock')}\n`);
  return { dir, config, services: path.join(dir, 'services.d'), children };
}

/** Read every drop-in in the directory until `done`; any file that does not parse is recorded with its bytes. */
async function pollReader(dir: string, done: () => boolean): Promise<{ reads: number; partial: string[]; counts: Set<number> }> {
  const validators = compileValidators();
  const partial: string[] = [];
  const counts = new Set<number>();
  let reads = 0;
  while (!done()) {
    let names: string[];
    try {
      names = (await readdir(dir)).filter(isDropInName);
    } catch {
      await new Promise((r) => setImmediate(r));
      continue;
    }
    counts.add(names.length);
    for (const name of names) {
      const bytes = await readFile(path.join(dir, name));
      reads++;
      const result = parseDropIn({ file: name, bytes, validators, healthDefaults: HEALTH });
      if (!result.ok) partial.push(`${name}: ${JSON.stringify(bytes.toString())}`);
    }
    await new Promise((r) => setTimeout(r, 2)); // a polling interval, so the reader does not take a whole core from the writers
  }
  return { reads, partial, counts };
}

test('200 concurrent coral connect processes with distinct names: 200 valid files, and a polling reader never parses a partial one', { timeout: 300_000 }, async (t) => {
  const { config, services, children } = await setup(t);
  let finished = false;
  const reader = pollReader(services, () => finished);
  const { results, maxInFlight } = await pool(200, 48, (i) => runCli(['connect', `svc-${i}:${20000 + i}`], config, children));
  finished = true;
  const seen = await reader;
  const failed = results.map((r, i) => [i, r] as const).filter(([, r]) => r.code !== 0);
  assert.deepEqual(failed.map(([i, r]) => `svc-${i}: exit ${r.code}: ${r.err}`), []);
  assert.ok(maxInFlight >= 40, `processes overlapped (${maxInFlight} at once)`);
  const names = await readdir(services);
  assert.equal(names.length, 200, `only drop-ins left, no temp or lock files: ${names.filter((n) => !isDropInName(n)).join(', ')}`);
  const { snapshot } = await loadSnapshot({ configPath: config, env: {} });
  assert.deepEqual(snapshot.diagnostics.filter((d) => d.severity === 'error'), []);
  assert.equal(snapshot.services.length, 200);
  for (let i = 0; i < 200; i++) assert.deepEqual(snapshot.services.find((s) => s.name === `svc-${i}`)?.ports, [{ from: 20000 + i, to: 20000 + i }]);
  assert.deepEqual(seen.partial, [], 'the reader never saw a partial or invalid file');
  assert.ok(seen.reads > 200 && [...seen.counts].some((n) => n > 0 && n < 200), `the reader read while the writers wrote (${seen.reads} reads)`);
});

test('the same name from 20 processes at once: one clean file, every process succeeds', { timeout: 120_000 }, async (t) => {
  const { config, services, children } = await setup(t);
  const runs = await Promise.all(Array.from({ length: 20 }, () => runCli(['connect', 'web:3000:http:/healthz'], config, children)));
  assert.deepEqual(runs.filter((r) => r.code !== 0).map((r) => r.err), []);
  const connected = runs.filter((r) => /^Connected service web on port 3000$/m.test(r.out)).length;
  const already = runs.filter((r) => /already connected/.test(r.out)).length;
  assert.equal(connected, 1, 'exactly one process wrote the file');
  assert.equal(already, 19, 'the others found it already there');
  assert.deepEqual(await readdir(services), ['web.yaml']);
  assert.equal(await readFile(path.join(services, 'web.yaml'), 'utf8'), '# Written by coral connect; edit or remove with coral disconnect.\nname: web\nport: 3000\nhealth: http:/healthz\n');
});

test('a writer killed with SIGKILL while holding the lock: the next coral connect takes over the stale lock', { timeout: 120_000 }, async (t) => {
  const { config, services, children } = await setup(t);
  await runCli(['connect', 'first:3000'], config, children);
  // A process holding the lock, the way connect does, killed before it can release it.
  const holder = spawn(process.execPath, ['--input-type=module', '-e', `
    const { lockServicesDir } = await import(${JSON.stringify(LOCK_MODULE)});
    await lockServicesDir({ dir: ${JSON.stringify(services)} }, async () => {
      console.log('locked');
      await new Promise(() => setInterval(() => {}, 1000));
    });
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(holder);
  const [line] = await once(holder.stdout, 'data') as [Buffer];
  assert.equal(line.toString().trim(), 'locked');
  const lockDir = path.join(services, '.coral.lock');
  assert.ok((await stat(lockDir)).isDirectory(), 'the lock is held');
  holder.kill('SIGKILL');
  await once(holder, 'close');
  assert.ok((await stat(lockDir)).isDirectory(), 'SIGKILL left the lock behind');
  const next = await runCli(['connect', 'second:3001'], config, children);
  assert.equal(next.code, 0, next.err);
  assert.match(next.out, /^Connected service second on port 3001$/m);
  assert.deepEqual((await readdir(services)).sort(), ['first.yaml', 'second.yaml']);
});
