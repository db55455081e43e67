// The drop-in writer and the directory lock: atomic replace, nothing left behind, a busy lock times out, errors that explain themselves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CoralError } from '../src/errors.js';
import { isIgnoredName } from '../src/config/ignored-names.js';
import { LOCK_NAME, lockServicesDir, storeError } from '../src/store/lock-services-dir.js';
import { removeDropIn } from '../src/store/remove-drop-in.js';
import { tempNameFor, writeDropIn } from '../src/store/write-drop-in.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'coral-store-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('the lock and temp names are ones the watcher and loader ignore', () => {
  assert.ok(isIgnoredName(LOCK_NAME));
  assert.ok(isIgnoredName(tempNameFor('web.yaml')));
  assert.match(tempNameFor('web.yaml'), new RegExp(`^\\.web\\.yaml\\.${process.pid}\\.tmp$`));
});

test('writeDropIn replaces a file (new inode, mode 0644 whatever the umask), and skips an identical one', async (t) => {
  const dir = await tempDir(t);
  const first = await writeDropIn({ dir, fileName: 'web.yaml', text: 'name: web\nport: 1\n' });
  assert.deepEqual(first, { path: path.join(dir, 'web.yaml'), changed: true });
  const before = await stat(first.path);
  assert.equal(before.mode & 0o777, 0o644);
  const same = await writeDropIn({ dir, fileName: 'web.yaml', text: 'name: web\nport: 1\n' });
  assert.equal(same.changed, false);
  assert.equal((await stat(first.path)).ino, before.ino);
  const changed = await writeDropIn({ dir, fileName: 'web.yaml', text: 'name: web\nport: 2\n' });
  assert.equal(changed.changed, true);
  assert.notEqual((await stat(first.path)).ino, before.ino, 'renamed over, not rewritten in place');
  assert.equal(await readFile(first.path, 'utf8'), 'name: web\nport: 2\n');
  assert.deepEqual(await readdir(dir), ['web.yaml']);
});

test('a write whose lock was lost is not renamed into place, and its temp file is removed', async (t) => {
  const dir = await tempDir(t);
  const lost = new AbortController();
  lost.abort(new CoralError('TEMPORARY', 'lost the lock'));
  await assert.rejects(writeDropIn({ dir, fileName: 'web.yaml', text: 'name: web\nport: 1\n', signal: lost.signal }), { code: 'TEMPORARY', message: 'lost the lock' });
  assert.deepEqual(await readdir(dir), []);
});

test('writeDropIn and removeDropIn refuse names that are not drop-ins', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(writeDropIn({ dir, fileName: '../escape.yaml', text: 'x' }), /is not a drop-in file name/);
  await assert.rejects(writeDropIn({ dir, fileName: '.hidden.yaml', text: 'x' }), /is not a drop-in file name/);
  await assert.rejects(removeDropIn({ dir, fileName: 'notes.txt' }), /is not a drop-in file name/);
});

test('removeDropIn removes the file, and reports false when it is not there', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'web.yaml'), 'name: web\nport: 1\n');
  assert.equal(await removeDropIn({ dir, fileName: 'web.yaml' }), true);
  assert.equal(await removeDropIn({ dir, fileName: 'web.yaml' }), false);
  assert.deepEqual(await readdir(dir), []);
});

test('a live lock holder makes a second locker wait, then time out with exit 75 and a hint', async (t) => {
  const dir = await tempDir(t);
  let release!: () => void;
  const held = new Promise<void>((resolve) => { release = resolve; });
  let entered!: () => void;
  const inside = new Promise<void>((resolve) => { entered = resolve; });
  const holder = lockServicesDir({ dir }, async () => {
    entered();
    await held;
    return 'first';
  });
  await inside;
  const error = await lockServicesDir({ dir, waitMs: 300 }, async () => 'second').then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof CoralError, String(error));
  assert.equal(error.code, 'TEMPORARY');
  assert.equal(error.exitCode, 75);
  assert.match(error.message, new RegExp(`${dir} is locked by another coral command \\(\\.coral\\.lock\\) for over 0 s`));
  assert.match(error.hint ?? '', /a lock left by a killed process is taken over after 10 s/);
  release();
  assert.equal(await holder, 'first');
  assert.equal(await lockServicesDir({ dir }, async () => 'third'), 'third', 'free again once released');
  assert.deepEqual(await readdir(dir), [], 'the lock is gone');
});

test('the lock is released when the function throws, and its error is the one reported', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(lockServicesDir({ dir }, async () => { throw new CoralError('INVALID_CONFIG', 'port taken'); }), { message: 'port taken' });
  assert.deepEqual(await readdir(dir), []);
});

test('a missing directory: created with create, else exit 73 naming it', async (t) => {
  const dir = path.join(await tempDir(t), 'services.d');
  await assert.rejects(lockServicesDir({ dir }, async () => 1), (e: unknown) => {
    assert.ok(e instanceof CoralError);
    assert.equal(e.exitCode, 73);
    assert.match(e.message, /the services directory .*services\.d does not exist/);
    return true;
  });
  assert.equal(await lockServicesDir({ dir, create: true }, async () => 2), 2);
  assert.equal((await stat(dir)).mode & 0o777, 0o755);
});

test('filesystem errors become messages with exit codes: permission 77, read-only or full 73', () => {
  const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: failed`), { code });
  const cases: [string, string, number, RegExp, RegExp][] = [
    ['EACCES', 'PERMISSION', 77, /cannot write \/s: permission denied/, /run as root or as a member of group coral/],
    ['EPERM', 'PERMISSION', 77, /cannot write \/s: permission denied/, /group coral/],
    ['EROFS', 'CANT_CREATE', 73, /cannot write \/s: read-only file system/, /writable file system/],
    ['ENOSPC', 'CANT_CREATE', 73, /cannot write \/s: no space left on device/, /free some space/],
    ['EIO', 'IO', 74, /cannot write \/s: EIO: failed/, /^$/],
  ];
  for (const [code, coral, exit, message, hint] of cases) {
    const e = storeError(errno(code), 'write', '/s');
    assert.equal(e.code, coral, code);
    assert.equal(e.exitCode, exit, code);
    assert.match(e.message, message);
    assert.match(e.hint ?? '', hint);
  }
});
