// Incremental loads: only drop-ins whose identity changed are read again; the periodic full re-read catches a rewrite that kept its identity.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, open, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { compileValidators } from '../src/config/schema-validate.js';
import { DropInCache, fileIdentity } from '../src/store/drop-in-cache.js';
import { loadSnapshot } from '../src/store/load-snapshot.js';

const validators = compileValidators();

async function configDir(t: TestContext): Promise<{ dir: string; configPath: string }> {
  const root = await mkdtemp(join(tmpdir(), 'coral-incremental-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'services.d');
  await mkdir(dir);
  await chmod(dir, 0o755);
  const configPath = join(root, 'coral.yaml');
  await writeFile(configPath, 'agent: {}\n');
  return { dir, configPath };
}

/** Overwrite in place (same inode), as an editor that does not rename does. */
async function rewriteInPlace(path: string, text: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(0);
    await handle.write(text, 0);
  } finally {
    await handle.close();
  }
}

const ports = (snapshot: { services: readonly { name: string; ports: readonly { from: number }[] }[] }): string[] =>
  snapshot.services.map((s) => `${s.name}:${s.ports[0]!.from}`);

test('a load with a cache reads only the files whose identity changed, and sees adds, edits and deletes', async (t) => {
  const { dir, configPath } = await configDir(t);
  for (const [name, port] of [['a', 8001], ['b', 8002], ['c', 8003]] as const) await writeFile(join(dir, `${name}.yaml`), `name: ${name}\nport: ${port}\n`);
  const cache = new DropInCache();
  const first = await loadSnapshot({ configPath, env: {}, validators, cache });
  assert.deepEqual(cache.last, { full: true, reused: 0, read: 3 });
  assert.deepEqual(ports(first.snapshot), ['a:8001', 'b:8002', 'c:8003']);

  const again = await loadSnapshot({ configPath, env: {}, validators, cache, previous: first.snapshot });
  assert.deepEqual(cache.last, { full: false, reused: 3, read: 0 });
  assert.deepEqual(again.snapshot, first.snapshot);

  // Same size, same inode, new content: mtime/ctime in ns tell it apart.
  await rewriteInPlace(join(dir, 'b.yaml'), 'name: b\nport: 8009\n');
  await writeFile(join(dir, 'd.yaml'), 'name: d\nport: 8004\n');
  await unlink(join(dir, 'a.yaml'));
  const edited = await loadSnapshot({ configPath, env: {}, validators, cache, previous: again.snapshot });
  assert.deepEqual(cache.last, { full: false, reused: 1, read: 2 });
  assert.deepEqual(ports(edited.snapshot), ['b:8009', 'c:8003', 'd:8004']);
  assert.deepEqual([...cache.entries.keys()].sort(), ['b.yaml', 'c.yaml', 'd.yaml'].map((n) => join(dir, n)));

  // An invalid file is cached as invalid, and its fix is read.
  await writeFile(join(dir, 'c.yaml'), 'name: c\nport: [\n');
  const broken = await loadSnapshot({ configPath, env: {}, validators, cache, previous: edited.snapshot });
  assert.deepEqual(broken.invalidFiles, [join(dir, 'c.yaml')]);
  await loadSnapshot({ configPath, env: {}, validators, cache, previous: broken.snapshot });
  assert.deepEqual(cache.last, { full: false, reused: 3, read: 0 });
  await writeFile(join(dir, 'c.yaml'), 'name: c\nport: 8005\n');
  const fixed = await loadSnapshot({ configPath, env: {}, validators, cache, previous: broken.snapshot });
  assert.deepEqual(fixed.invalidFiles, []);
  assert.deepEqual(ports(fixed.snapshot), ['b:8009', 'c:8005', 'd:8004']);
});

test('a rewrite that keeps the identity (same size, same timestamp tick) is caught by the periodic full re-read', async (t) => {
  const { dir, configPath } = await configDir(t);
  const file = join(dir, 'web.yaml');
  await writeFile(file, 'name: web\nport: 8001\n');
  let now = 1_000_000;
  const cache = new DropInCache({ fullRereadMs: 60_000, now: () => now });
  const first = await loadSnapshot({ configPath, env: {}, validators, cache });
  assert.deepEqual(ports(first.snapshot), ['web:8001']);

  await rewriteInPlace(file, 'name: web\nport: 8002\n');
  // Kernels with coarse timestamps give a rewrite within one tick the same mtime and ctime; this
  // kernel may not, so make the cached identity the file's current one, as such a kernel would.
  const identity = fileIdentity(file);
  assert.ok(identity !== undefined);
  cache.entries.get(file)!.identity = identity;

  now += 59_999;
  const blind = await loadSnapshot({ configPath, env: {}, validators, cache, previous: first.snapshot });
  assert.deepEqual(cache.last, { full: false, reused: 1, read: 0 });
  assert.deepEqual(ports(blind.snapshot), ['web:8001'], 'identity unchanged: the file is not read again before the full re-read is due');

  now += 1;
  const caught = await loadSnapshot({ configPath, env: {}, validators, cache, previous: blind.snapshot });
  assert.deepEqual(cache.last, { full: true, reused: 0, read: 1 });
  assert.deepEqual(ports(caught.snapshot), ['web:8002']);

  // invalidate() (what a reload does) forces the next load to be full as well.
  cache.invalidate();
  await loadSnapshot({ configPath, env: {}, validators, cache, previous: caught.snapshot });
  assert.equal(cache.last.full, true);
});

test('a change of what parsing depends on (health defaults) re-reads every file', async (t) => {
  const { dir, configPath } = await configDir(t);
  await writeFile(join(dir, 'web.yaml'), 'name: web\nport: 8001\n');
  const cache = new DropInCache();
  const first = await loadSnapshot({ configPath, env: {}, validators, cache });
  assert.equal(first.snapshot.services[0]!.health.intervalMs, 10_000);
  await writeFile(configPath, 'agent:\n  health:\n    interval: 3s\n');
  const second = await loadSnapshot({ configPath, env: {}, validators, cache, previous: first.snapshot });
  assert.equal(cache.last.full, true);
  assert.equal(second.snapshot.services[0]!.health.intervalMs, 3000);
});

test('a hinted cache looks only at the entries the watcher named; a resync hint makes the next load a sweep that sees the rest', async (t) => {
  const { dir, configPath } = await configDir(t);
  for (let i = 0; i < 10; i++) await writeFile(join(dir, `s${i}.yaml`), `name: s${i}\nport: ${8000 + i}\n`);
  const cache = new DropInCache({ hinted: true });
  let previous = (await loadSnapshot({ configPath, env: {}, validators, cache })).snapshot;
  assert.equal(cache.lastMode, 'full');

  // Named: read. Not named (its event lost): not looked at, until a sweep.
  await writeFile(join(dir, 's1.yaml'), 'name: s1\nport: 9001\n');
  await rewriteInPlace(join(dir, 's2.yaml'), 'name: s2\nport: 9002\n');
  cache.hint(join(dir, 's1.yaml'));
  let next = (await loadSnapshot({ configPath, env: {}, validators, cache, previous })).snapshot;
  assert.equal(cache.lastMode, 'hinted');
  assert.deepEqual(cache.last, { full: false, reused: 9, read: 1 });
  assert.ok(ports(next).includes('s1:9001') && ports(next).includes('s2:8002'));
  previous = next;
  cache.hint(undefined);
  next = (await loadSnapshot({ configPath, env: {}, validators, cache, previous })).snapshot;
  assert.equal(cache.lastMode, 'sweep');
  assert.deepEqual(cache.last, { full: false, reused: 9, read: 1 });
  assert.ok(ports(next).includes('s2:9002'), 'the sweep stats every file');
  previous = next;

  // A new file and a deleted one, named by their events.
  await writeFile(join(dir, 'a-new.yaml'), 'name: a-new\nport: 7000\n');
  await unlink(join(dir, 's3.yaml'));
  cache.hint(join(dir, 'a-new.yaml'));
  cache.hint(join(dir, 's3.yaml'));
  next = (await loadSnapshot({ configPath, env: {}, validators, cache, previous })).snapshot;
  assert.equal(cache.lastMode, 'hinted');
  assert.deepEqual(next.files.map((f) => f.file).slice(1, 3), [join(dir, 'a-new.yaml'), join(dir, 's0.yaml')], 'in lexical order');
  assert.ok(!next.files.some((f) => f.file === join(dir, 's3.yaml')));
  assert.ok(!cache.entries.has(join(dir, 's3.yaml')));
  previous = next;

  // Anything but a drop-in of the directory (a ConfigMap entry, the directory itself) sweeps.
  cache.hint(join(dir, '..data'));
  await loadSnapshot({ configPath, env: {}, validators, cache, previous });
  assert.equal(cache.lastMode, 'sweep');
  cache.hint(dir);
  await loadSnapshot({ configPath, env: {}, validators, cache, previous });
  assert.equal(cache.lastMode, 'sweep');
});

test('a hinted load reads every symlinked drop-in again: its target can change with no event on its name', async (t) => {
  const { dir, configPath } = await configDir(t);
  await writeFile(join(dir, 'real.yaml'), 'name: real\nport: 8001\n');
  await mkdir(join(dir, 'targets'));
  await writeFile(join(dir, 'targets', 'linked'), 'name: linked\nport: 8002\n');
  const { symlink } = await import('node:fs/promises');
  await symlink(join(dir, 'targets', 'linked'), join(dir, 'linked.yaml'));
  const cache = new DropInCache({ hinted: true });
  const first = (await loadSnapshot({ configPath, env: {}, validators, cache })).snapshot;
  assert.ok(ports(first).includes('linked:8002'));
  await writeFile(join(dir, 'targets', 'linked'), 'name: linked\nport: 8003\n');
  cache.hint(join(dir, 'real.yaml'));
  const next = (await loadSnapshot({ configPath, env: {}, validators, cache, previous: first })).snapshot;
  assert.equal(cache.lastMode, 'hinted');
  assert.ok(ports(next).includes('linked:8003'));
});
