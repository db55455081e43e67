// The real daemon process against real file changes in services.d: each edit style ends with the Beyla double running exactly the new ports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDaemonHarness, dropIn, type DaemonHarness } from './support/daemon-harness.js';

/**
 * A barrier: a reload forces a reconcile now, so once it answers "unchanged" every earlier file
 * event has been read and applied, and counting swaps after it cannot miss a late one.
 */
async function assertSettled(h: DaemonHarness, generation: number, httpStatus = 200): Promise<void> {
  const reload = await h.reload();
  assert.equal(reload.status, httpStatus, JSON.stringify(reload.body));
  assert.equal(reload.body.result, 'unchanged', `a reload after the change still found work to do: ${JSON.stringify(reload.body)}`);
  assert.equal(reload.body.generation, generation);
}

test('one new drop-in is applied by exactly one Beyla swap, after the debounce', async (t) => {
  const h = await createDaemonHarness(t, { debounce: '400ms', dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  const first = await h.waitForLivePorts('3000');
  assert.equal((await h.status()).beyla.generation, 1);

  const from = h.mark();
  const writtenAt = Date.now();
  await h.writeDropIn('api.yaml', dropIn('api', 8080));
  const applied = await h.waitForReconcile('api.yaml applied', { fromIndex: from, match: (r) => r.ports_added === '8080' });
  assert.equal(applied.result, 'swapped');
  assert.match(applied.msg, /^ports \+8080 \(api\.yaml added\); Beyla generation 1 -> 2 in \d+\.\ds$/);
  // A lower bound only (never flaky when slow): the new Beyla starts no sooner than the debounce after the write.
  const spawned = h.logs.slice(from).find((r) => r.msg === 'Beyla candidate spawned');
  const waitedMs = Date.parse(String(spawned?.time)) - writtenAt;
  assert.ok(waitedMs >= 400, `the new Beyla was spawned ${waitedMs} ms after the write, inside the 400 ms debounce`);
  const second = await h.waitForLivePorts('3000,8080');
  assert.notEqual(second?.pid, first?.pid, 'the new ports need a new Beyla process');

  await assertSettled(h, 2);
  assert.equal(h.swapsSince(from).length, 1, `swaps: ${JSON.stringify(h.swapsSince(from).map((r) => r.msg))}`);
  const status = await h.status();
  assert.equal(status.generation, 2);
  assert.equal(status.beyla.generation, 2);
  assert.equal(status.applied.ports, '3000,8080');
  assert.deepEqual(status.beyla.instances.map((i: { pid: number; role: string }) => [i.pid, i.role]), [[second?.pid, 'active']]);
  await h.stop();
});

test('100 drop-ins written within one debounce window give one swap with all 100 ports live', async (t) => {
  const h = await createDaemonHarness(t, { debounce: '2s', maxWait: '30s', dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  await h.waitForLivePorts('3000');

  const ports = Array.from({ length: 100 }, (_, i) => 20_000 + 2 * i);
  const from = h.mark();
  for (const [i, port] of ports.entries()) await h.writeDropIn(`svc-${String(i).padStart(3, '0')}.yaml`, dropIn(`svc-${i}`, port));
  const expected = ['3000', ...ports.map(String)].join(',');
  const applied = await h.waitForReconcile('the 100 drop-ins applied', { fromIndex: from, deadlineMs: 30_000, match: (r) => r.result !== 'unchanged' });
  assert.equal(applied.result, 'swapped', applied.msg);
  // The log line names the first few ports and files and counts the rest; every port is checked live below.
  assert.equal(applied.ports_added, `${ports.slice(0, 10).join(',')} (+90 more)`, 'the first swap after the burst must carry every new port');
  assert.equal(applied.files_changed, 100);
  assert.deepEqual(applied.files, [...ports.slice(0, 5).map((_, i) => `svc-${String(i).padStart(3, '0')}.yaml added`), '+95 more']);
  assert.match(applied.msg, /^ports \+20000 \+20002 .* \+20018 \(\+90 more\) \(svc-000\.yaml added, .*, svc-004\.yaml added, \+95 more\); Beyla generation/);
  await h.waitForLivePorts(expected, 20_000);

  await assertSettled(h, 2);
  assert.equal(h.swapsSince(from).length, 1, `swaps: ${JSON.stringify(h.swapsSince(from).map((r) => r.msg))}`);
  const status = await h.status();
  assert.equal(status.desired.services.length, 101);
  assert.equal(status.applied.ports, expected);
  await h.stop();
});

test('an invalid drop-in causes no swap: it is reported with file:line:col and the old ports stay live', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000), 'api.yaml': dropIn('api', 8080) } });
  await h.start();
  const running = await h.waitForLivePorts('3000,8080');

  const from = h.mark();
  await h.writeDropIn('web.yaml', 'name: web\nport: 99999\n');
  await h.writeDropIn('bad.yaml', 'name: bad\nport: 4000\nbogus: 1\n');
  const web = join(h.servicesDir, 'web.yaml');
  const bad = join(h.servicesDir, 'bad.yaml');
  const error = await h.waitForLog('error for web.yaml', (r) => r.file === web && r.level === 50, { fromIndex: from });
  assert.deepEqual([error.line, error.col], [2, 7]);
  assert.match(error.msg, /99999/);
  await h.waitForReconcile('both bad files seen', {
    fromIndex: from,
    match: (r) => (r.files as string[]).includes('web.yaml invalid') && (r.files as string[]).includes('bad.yaml invalid'),
  });
  // The reload re-reads the files: 422 while a drop-in is invalid, and still nothing to apply.
  await assertSettled(h, 1, 422);
  assert.equal(h.swapsSince(from).length, 0);

  const status = await h.status();
  const rejected = new Map<string, { status: string; errors: Array<{ line: number; col: number; message: string }> }>(
    status.rejected.map((r: { file: string }) => [r.file, r]),
  );
  assert.deepEqual([...rejected.keys()].sort(), [bad, web]);
  assert.equal(rejected.get(web)?.status, 'stale', 'web.yaml was good before: its last good version stays in effect');
  assert.equal(rejected.get(bad)?.status, 'rejected');
  assert.deepEqual(rejected.get(web)?.errors.map((e) => [e.line, e.col]), [[2, 7]]);
  assert.deepEqual(rejected.get(bad)?.errors.map((e) => [e.line, e.col]), [[3, 1]]);
  assert.equal(status.applied.ports, '3000,8080');
  assert.equal(status.lastReconcile.ok, false);
  const still = await h.waitForLivePorts('3000,8080');
  assert.equal(still?.pid, running?.pid, 'the running Beyla must not be restarted for an invalid file');

  // Fixing the file applies it and clears the report.
  const fixFrom = h.mark();
  await h.writeDropIn('web.yaml', dropIn('web', 3001));
  await h.waitForReconcile('web.yaml fixed', { fromIndex: fixFrom, match: (r) => (r.files as string[]).includes('web.yaml fixed') });
  await h.waitForLivePorts('3001,8080');
  assert.deepEqual((await h.status()).rejected.map((r: { file: string }) => r.file), [bad]);
  await h.stop();
});

test('deleting drop-ins removes their ports from the running Beyla, and the last one stops it', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000), 'api.yaml': dropIn('api', 8080) } });
  await h.start();
  await h.waitForLivePorts('3000,8080');

  let from = h.mark();
  await unlink(join(h.servicesDir, 'api.yaml'));
  const removed = await h.waitForReconcile('api.yaml removal applied', { fromIndex: from });
  assert.match(removed.msg, /^ports -8080 \(api\.yaml removed\); Beyla generation 1 -> 2/);
  await h.waitForLivePorts('3000');

  from = h.mark();
  await unlink(join(h.servicesDir, 'web.yaml'));
  const stopped = await h.waitForReconcile('web.yaml removal applied', { fromIndex: from });
  assert.equal(stopped.result, 'stopped', stopped.msg);
  await h.waitForLivePorts('');
  const status = await h.status();
  assert.equal(status.desired.ports, '');
  assert.deepEqual(status.beyla.instances, []);
  await h.stop();
});

test('an atomic save (write a .tmp file, then rename it over the drop-in) is applied', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  await h.waitForLivePorts('3000');

  const from = h.mark();
  const temp = join(h.servicesDir, 'web.yaml.tmp');
  await writeFile(temp, dropIn('web', 3001));
  await rename(temp, join(h.servicesDir, 'web.yaml'));
  const applied = await h.waitForReconcile('renamed web.yaml applied', { fromIndex: from, match: (r) => r.result !== 'unchanged' });
  assert.match(applied.msg, /^ports \+3001 -3000 \(web\.yaml changed\); Beyla generation 1 -> 2/);
  await h.waitForLivePorts('3001');
  await assertSettled(h, 2);
  assert.equal(h.swapsSince(from).length, 1);
  await h.stop();
});

test('a vim-style save (swap file, backup rename, new file, cleanup) is applied once', async (t) => {
  // Debounce 1 s so the few file operations of one save surely fall into one window.
  const h = await createDaemonHarness(t, { debounce: '1s', dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  await h.waitForLivePorts('3000');

  const from = h.mark();
  const file = join(h.servicesDir, 'web.yaml');
  const swap = join(h.servicesDir, '.web.yaml.swp');
  await writeFile(swap, 'vim swap\n');
  await rename(file, `${file}~`);
  await writeFile(file, dropIn('web', 3001));
  await unlink(`${file}~`);
  await unlink(swap);
  const applied = await h.waitForReconcile('vim save applied', { fromIndex: from, match: (r) => r.result !== 'unchanged' });
  assert.match(applied.msg, /^ports \+3001 -3000 \(web\.yaml changed\); Beyla generation 1 -> 2/);
  await h.waitForLivePorts('3001');
  await assertSettled(h, 2);
  assert.deepEqual(h.reconcilesSince(from).filter((r) => r.result !== 'unchanged').map((r) => r.result), ['swapped'],
    'the moment web.yaml was missing must not have been applied');
  await h.stop();
});

test('services.d deleted (Beyla stops), then recreated: the new drop-ins are applied and the watch keeps working', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  await h.waitForLivePorts('3000');

  await rm(h.servicesDir, { recursive: true });
  await h.waitForLivePorts('');
  await mkdir(h.servicesDir, { mode: 0o755 });
  await h.writeDropIn('api.yaml', dropIn('api', 8080));
  await h.waitForLivePorts('8080');

  const from = h.mark();
  await h.writeDropIn('db.yaml', dropIn('db', 5432));
  await h.waitForReconcile('db.yaml applied', { fromIndex: from, match: (r) => r.ports_added === '5432' });
  await h.waitForLivePorts('5432,8080');
  assert.equal((await h.status()).applied.ports, '5432,8080');
  await h.stop();
});

// When services.d is removed and recreated at once, chokidar can keep its watch on the deleted
// directory; the watcher compares the directory's identity (dev, inode, birth time) on every
// event and every few seconds and watches the new one.
test('services.d deleted and recreated at once: later drop-ins are still seen', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  await h.waitForLivePorts('3000');

  await rm(h.servicesDir, { recursive: true });
  await mkdir(h.servicesDir, { mode: 0o755 });
  await h.writeDropIn('api.yaml', dropIn('api', 8080));
  await h.waitForLivePorts('8080');

  const from = h.mark();
  await h.writeDropIn('db.yaml', dropIn('db', 5432));
  await h.waitForReconcile('db.yaml applied', { fromIndex: from, deadlineMs: 8000, match: (r) => r.ports_added === '5432' });
  await h.waitForLivePorts('5432,8080');
  await h.stop();
});

test('a Kubernetes ConfigMap update (atomic swap of the ..data symlink) is applied', async (t) => {
  const h = await createDaemonHarness(t);
  // The kubelet's layout: web.yaml -> ..data/web.yaml, ..data -> ..<timestamp>/
  const v1 = '..2024_01_02_03_04_05.000000001';
  const v2 = '..2024_01_02_03_04_06.000000002';
  await mkdir(join(h.servicesDir, v1));
  await writeFile(join(h.servicesDir, v1, 'web.yaml'), dropIn('web', 3000));
  await symlink(v1, join(h.servicesDir, '..data'));
  await symlink(join('..data', 'web.yaml'), join(h.servicesDir, 'web.yaml'));
  await h.start();
  await h.waitForLivePorts('3000');

  // Only the content of an existing key changes: the one event is the ..data rename.
  const from = h.mark();
  await mkdir(join(h.servicesDir, v2));
  await writeFile(join(h.servicesDir, v2, 'web.yaml'), dropIn('web', 3001));
  await symlink(v2, join(h.servicesDir, '..data_tmp'));
  await rename(join(h.servicesDir, '..data_tmp'), join(h.servicesDir, '..data'));
  await rm(join(h.servicesDir, v1), { recursive: true });
  const applied = await h.waitForReconcile('ConfigMap update applied', { fromIndex: from, match: (r) => r.result !== 'unchanged' });
  assert.match(applied.msg, /^ports \+3001 -3000 \(web\.yaml changed\); Beyla generation 1 -> 2/);
  await h.waitForLivePorts('3001');
  await h.stop();
});

test('services.d replaced by a symlink to another directory: a new file in the target is applied without waiting for a resync', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000) } });
  await h.start();
  await h.waitForLivePorts('3000');
  // The harness resyncs every hour: only the watch can bring these in.
  const target = join(h.servicesDir, '..', 'services.real');
  await mkdir(target, { mode: 0o755 });
  await writeFile(join(target, 'web.yaml'), dropIn('web', 3000));
  await rm(h.servicesDir, { recursive: true });
  await symlink(target, h.servicesDir);
  await writeFile(join(target, 'api.yaml'), dropIn('api', 8080));
  await h.waitForLivePorts('3000,8080');
  const from = h.mark();
  await writeFile(join(target, 'db.yaml'), dropIn('db', 5432));
  await h.waitForReconcile('db.yaml in the symlink target applied', { fromIndex: from, match: (r) => r.ports_added === '5432' });
  await h.waitForLivePorts('3000,5432,8080');
  await h.stop();
});
