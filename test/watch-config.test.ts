// Real-inotify tests of the config watcher: every kind of edit a person or a tool makes means "dirty".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../src/log.js';
import { watchConfig, type ConfigWatcher, type DirtyReason } from '../src/watch/watch-config.js';
import { isDropInName, isIgnoredName } from '../src/config/ignored-names.js';

const DEADLINE_MS = 5000;

interface Waiter {
  from: number;
  predicate: (reason: DirtyReason) => boolean;
  resolve: (reason: DirtyReason) => void;
}

/** Records every dirty reason and lets a test await one matching a predicate, with a deadline. */
class DirtyLog {
  readonly seen: DirtyReason[] = [];
  private readonly waiters = new Set<Waiter>();

  readonly onDirty = (reason: DirtyReason): void => {
    this.seen.push(reason);
    for (const waiter of this.waiters) {
      if (waiter.predicate(reason)) {
        this.waiters.delete(waiter);
        waiter.resolve(reason);
      }
    }
  };

  mark(): number {
    return this.seen.length;
  }

  async waitFor(predicate: (reason: DirtyReason) => boolean, from: number, what: string): Promise<DirtyReason> {
    const earlier = this.seen.slice(from).find(predicate);
    if (earlier) return earlier;
    let timer: NodeJS.Timeout | undefined;
    let waiter: Waiter | undefined;
    try {
      return await new Promise<DirtyReason>((resolve, reject) => {
        waiter = { from, predicate, resolve };
        this.waiters.add(waiter);
        timer = setTimeout(() => {
          reject(new Error(`no dirty event for ${what} within ${DEADLINE_MS} ms; seen: ${JSON.stringify(this.seen.slice(from))}`));
        }, DEADLINE_MS);
      });
    } finally {
      clearTimeout(timer);
      if (waiter) this.waiters.delete(waiter);
    }
  }
}

const byName = (name: string) => (reason: DirtyReason): boolean =>
  reason.kind === 'event' && reason.path !== undefined && path.basename(reason.path) === name;

interface Fixture {
  dir: string;
  configPath: string;
  servicesDir: string;
  dirty: DirtyLog;
  watcher: ConfigWatcher;
  logLines: string[];
}

async function setUp(
  t: { after: (fn: () => Promise<void>) => void },
  options: { usePolling?: boolean; servicesDir?: (dir: string) => string } = {},
): Promise<Fixture> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coral-watch-'));
  const configPath = path.join(dir, 'coral.yaml');
  const servicesDir = options.servicesDir ? options.servicesDir(dir) : path.join(dir, 'services.d');
  await fs.writeFile(configPath, 'agent: {}\n');
  await fs.mkdir(servicesDir, { recursive: true });
  const logLines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  const controller = new AbortController();
  const dirty = new DirtyLog();
  const watcher = await watchConfig({
    configPath,
    servicesDir,
    resyncMs: 0,
    logger,
    signal: controller.signal,
    onDirty: dirty.onDirty,
    usePolling: options.usePolling ?? false,
    awaitWriteFinishMs: 20,
    pollIntervalMs: 50,
  });
  t.after(async () => {
    controller.abort();
    await watcher.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
  return { dir, configPath, servicesDir, dirty, watcher, logLines };
}

test('ignored-name predicate matches the loader list and keeps ConfigMap entries', () => {
  for (const name of ['.foo.yaml.swp', 'x.tmp', 'x.yaml~', '.#x.yaml', 'x.yaml.swx', 'x.yaml.swo', 'x.yaml.dpkg-dist',
    'x.yaml.dpkg-old', 'x.yaml.rpmnew', 'x.yaml.rpmsave', 'x.yaml.rpmorig', 'services.d.lock', '.coral.lock', '.hidden.yaml',
    '..data_tmp']) {
    assert.equal(isIgnoredName(name), true, name);
  }
  for (const name of ['..data', '..2024_01_02_03_04_05.123456789', '..2026_a', 'web.yaml', 'db.yml', '4913']) {
    assert.equal(isIgnoredName(name), false, name);
  }
  assert.equal(isDropInName('web.yaml'), true);
  assert.equal(isDropInName('db.yml'), true);
  assert.equal(isDropInName('4913'), false);
  assert.equal(isDropInName('notes.txt'), false);
  assert.equal(isDropInName('.web.yaml'), false);
});

test('creating a drop-in makes the config dirty', async (t) => {
  const f = await setUp(t);
  assert.equal(f.watcher.mode, 'inotify');
  const from = f.dirty.mark();
  await fs.writeFile(path.join(f.servicesDir, 'web.yaml'), 'name: web\n');
  const reason = await f.dirty.waitFor(byName('web.yaml'), from, 'new drop-in');
  assert.equal(reason.event, 'add');
});

test('editing the main file makes the config dirty', async (t) => {
  const f = await setUp(t);
  const from = f.dirty.mark();
  await fs.writeFile(f.configPath, 'agent: { debounce_ms: 10 }\n');
  await f.dirty.waitFor(byName('coral.yaml'), from, 'main file edit');
});

test('an atomic rename (write tmp, rename over) makes the config dirty', async (t) => {
  const f = await setUp(t);
  const target = path.join(f.servicesDir, 'web.yaml');
  await fs.writeFile(target, 'name: web\n');
  await f.dirty.waitFor(byName('web.yaml'), 0, 'initial drop-in');
  const from = f.dirty.mark();
  const tmp = path.join(f.servicesDir, '.web.yaml.tmp-123');
  await fs.writeFile(tmp, 'name: web\nports: [8080]\n');
  await fs.rename(tmp, target);
  await f.dirty.waitFor(byName('web.yaml'), from, 'atomic rename');
  assert.ok(f.dirty.seen.every((r) => !r.path?.includes('.tmp')), 'the temp file itself is never reported');
});

test('a vim-style save (backup rename, 4913 probe, new file, backup removed) makes the config dirty', async (t) => {
  const f = await setUp(t);
  const target = path.join(f.servicesDir, 'web.yaml');
  await fs.writeFile(target, 'name: web\n');
  await f.dirty.waitFor(byName('web.yaml'), 0, 'initial drop-in');
  const from = f.dirty.mark();
  const probe = path.join(f.servicesDir, '4913');
  await fs.writeFile(probe, '');
  await fs.unlink(probe);
  await fs.rename(target, `${target}~`);
  await fs.writeFile(target, 'name: web\nports: [9090]\n');
  await fs.unlink(`${target}~`);
  await f.dirty.waitFor(byName('web.yaml'), from, 'vim save');
  assert.ok(f.dirty.seen.every((r) => !r.path?.endsWith('4913') && !r.path?.endsWith('~')), 'probe and backup are ignored');
});

test('deleting a drop-in makes the config dirty', async (t) => {
  const f = await setUp(t);
  const target = path.join(f.servicesDir, 'web.yaml');
  await fs.writeFile(target, 'name: web\n');
  await f.dirty.waitFor(byName('web.yaml'), 0, 'initial drop-in');
  const from = f.dirty.mark();
  await fs.unlink(target);
  const reason = await f.dirty.waitFor(byName('web.yaml'), from, 'delete');
  assert.equal(reason.event, 'unlink');
});

test('services.d deleted and recreated is still watched', async (t) => {
  const f = await setUp(t);
  await fs.writeFile(path.join(f.servicesDir, 'web.yaml'), 'name: web\n');
  await f.dirty.waitFor(byName('web.yaml'), 0, 'initial drop-in');
  let from = f.dirty.mark();
  await fs.rm(f.servicesDir, { recursive: true });
  await f.dirty.waitFor(byName('services.d'), from, 'services.d removed');
  from = f.dirty.mark();
  await fs.mkdir(f.servicesDir);
  await f.dirty.waitFor(byName('services.d'), from, 'services.d recreated');
  // The directory's own watch is set up asynchronously after addDir; a file created in it at
  // any point after the mkdir must still be seen (either by the new watch or by its initial scan).
  from = f.dirty.mark();
  await fs.writeFile(path.join(f.servicesDir, 'db.yaml'), 'name: db\n');
  await f.dirty.waitFor(byName('db.yaml'), from, 'file in recreated services.d');
});

test('a services dir outside the config dir is watched through its own parent', async (t) => {
  const f = await setUp(t, { servicesDir: (dir) => path.join(dir, 'elsewhere', 'drop-ins') });
  const from = f.dirty.mark();
  await fs.writeFile(path.join(f.servicesDir, 'web.yaml'), 'name: web\n');
  await f.dirty.waitFor(byName('web.yaml'), from, 'drop-in in the external services dir');
});

test('a Kubernetes ConfigMap swap of the ..data symlink makes the config dirty', async (t) => {
  const f = await setUp(t);
  const sd = f.servicesDir;
  // Layout the kubelet creates before the watcher (re)starts.
  await fs.mkdir(path.join(sd, '..2026_a'));
  await fs.writeFile(path.join(sd, '..2026_a', 'svc.yaml'), 'name: svc\nports: [80]\n');
  await fs.symlink('..2026_a', path.join(sd, '..data'));
  await fs.symlink('..data/svc.yaml', path.join(sd, 'svc.yaml'));
  await f.dirty.waitFor(byName('svc.yaml'), 0, 'ConfigMap projection created');
  // The update: a new timestamped dir and a temp symlink...
  let from = f.dirty.mark();
  await fs.mkdir(path.join(sd, '..2026_b'));
  await fs.writeFile(path.join(sd, '..2026_b', 'svc.yaml'), 'name: svc\nports: [81]\n');
  await fs.symlink('..2026_b', path.join(sd, '..data_tmp'));
  await f.dirty.waitFor(byName('..2026_b'), from, 'new ConfigMap timestamp dir');
  // ...and the one atomic step that changes what svc.yaml resolves to: it alone must trigger.
  from = f.dirty.mark();
  await fs.rename(path.join(sd, '..data_tmp'), path.join(sd, '..data'));
  await f.dirty.waitFor(byName('..data'), from, '..data swap');
  assert.equal(await fs.readFile(path.join(sd, 'svc.yaml'), 'utf8'), 'name: svc\nports: [81]\n');
});

test('editor and temp files never make the config dirty', async (t) => {
  const f = await setUp(t);
  for (const round of [1, 2]) {
    const from = f.dirty.mark();
    // Ignored names first, then a positive control in the same directory. inotify delivers a
    // directory's events in order and ignored paths are filtered before any stat or write-finish
    // delay, so if any ignored file leaked it would be recorded no later than the control.
    await fs.writeFile(path.join(f.servicesDir, '.foo.yaml.swp'), `swap ${round}`);
    await fs.writeFile(path.join(f.servicesDir, 'x.tmp'), `tmp ${round}`);
    await fs.writeFile(path.join(f.servicesDir, 'web.yaml~'), `backup ${round}`);
    await fs.writeFile(path.join(f.servicesDir, '.#web.yaml'), `lock ${round}`);
    await fs.mkdir(path.join(f.servicesDir, `.coral.lock`));
    await fs.rmdir(path.join(f.servicesDir, `.coral.lock`));
    await fs.writeFile(path.join(f.dir, 'notes.txt'), `unrelated ${round}`);
    await fs.writeFile(path.join(f.servicesDir, `control-${round}.yaml`), `name: c${round}\n`);
    await f.dirty.waitFor(byName(`control-${round}.yaml`), from, `positive control ${round}`);
  }
  const leaked = f.dirty.seen.filter((r) => !/control-\d\.yaml$/.test(r.path ?? ''));
  assert.deepEqual(leaked, []);
});

test('polling mode also sees a change', async (t) => {
  const f = await setUp(t, { usePolling: true });
  assert.equal(f.watcher.mode, 'polling');
  const from = f.dirty.mark();
  await fs.writeFile(path.join(f.servicesDir, 'web.yaml'), 'name: web\n');
  await f.dirty.waitFor(byName('web.yaml'), from, 'drop-in seen by polling');
});

test('the periodic resync reports dirty without any file event', async (t) => {
  const f = await setUp(t);
  const dirty = new DirtyLog();
  const controller = new AbortController();
  const watcher = await watchConfig({
    configPath: f.configPath,
    servicesDir: f.servicesDir,
    resyncMs: 30,
    logger: createLogger({ level: 'silent' }),
    signal: controller.signal,
    onDirty: dirty.onDirty,
  });
  t.after(() => watcher.close());
  await dirty.waitFor((r) => r.kind === 'resync', 0, 'first resync');
  await dirty.waitFor((r) => r.kind === 'resync', dirty.mark(), 'second resync');
  controller.abort();
  await watcher.close();
  assert.ok(dirty.seen.every((r) => r.kind === 'resync'));
});

test('aborting the signal releases every watch and timer, so the process can exit', async (t) => {
  const f = await setUp(t);
  const moduleUrl = new URL('../src/watch/watch-config.js', import.meta.url).href;
  // The child starts a watcher with a resync timer, waits for one resync and a real event,
  // aborts, and then simply returns: a leaked watch or timer would keep it alive.
  const script = `
    import { watchConfig } from ${JSON.stringify(moduleUrl)};
    import fs from 'node:fs/promises';
    import { pino } from 'pino';
    const controller = new AbortController();
    let resyncs = 0;
    let sawEvent;
    const event = new Promise((resolve) => { sawEvent = resolve; });
    const resync = new Promise((resolve) => {
      watchConfig({
        configPath: process.argv[1], servicesDir: process.argv[2], resyncMs: 20,
        logger: pino({ level: 'silent' }), signal: controller.signal,
        onDirty: (r) => { if (r.kind === 'resync' && ++resyncs === 1) resolve(); if (r.kind === 'event') sawEvent(); },
      }).then(() => fs.writeFile(process.argv[2] + '/web.yaml', 'name: web\\n'));
    });
    await Promise.all([resync, event]);
    controller.abort();
    process.stdout.write('aborted\\n');
  `;
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, f.configPath, f.servicesDir], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => { timer = setTimeout(() => resolve('deadline'), DEADLINE_MS); });
  t.after(async () => {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const outcome = await Promise.race([exited, deadline]);
  assert.equal(stdout, 'aborted\n');
  assert.equal(outcome, 0, 'the child exited on its own after abort');
});

test('running out of file descriptors falls back to polling, which still sees changes', async (t) => {
  const f = await setUp(t);
  const moduleUrl = new URL('../src/watch/watch-config.js', import.meta.url).href;
  // Under a low RLIMIT_NOFILE the child fills its fd table, so chokidar's first scandir/inotify
  // fails with EMFILE. The fds are released when the fallback warning is logged, so the polling
  // watcher that replaces the failed one can work.
  const script = `
    import fs from 'node:fs';
    import { Writable } from 'node:stream';
    import { pino } from 'pino';
    import { watchConfig } from ${JSON.stringify(moduleUrl)};
    const [configPath, servicesDir] = process.argv.slice(1);
    const held = [];
    const logger = pino({ level: 'warn' }, new Writable({ write(chunk, _enc, cb) {
      if (chunk.toString().includes('falling back to polling')) {
        for (const fd of held.splice(0)) fs.closeSync(fd);
        process.stdout.write('warned\\n');
      }
      cb();
    } }));
    try { for (;;) held.push(fs.openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
    const controller = new AbortController();
    let seen;
    const sawDropIn = new Promise((resolve) => { seen = resolve; });
    const watcher = await watchConfig({
      configPath, servicesDir, resyncMs: 0, logger, signal: controller.signal, pollIntervalMs: 50, awaitWriteFinishMs: 20,
      onDirty: (r) => { if (r.path && r.path.endsWith('web.yaml')) seen(); },
    });
    for (const fd of held.splice(0)) fs.closeSync(fd);
    process.stdout.write('mode ' + watcher.mode + '\\n');
    fs.writeFileSync(servicesDir + '/web.yaml', 'name: web\\n');
    await sawDropIn;
    process.stdout.write('saw web.yaml\\n');
    controller.abort();
  `;
  const { spawn } = await import('node:child_process');
  const child = spawn('bash', ['-c', 'ulimit -n 100 && exec "$0" "$@"', process.execPath, '--input-type=module', '-e', script,
    f.configPath, f.servicesDir], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => { timer = setTimeout(() => resolve('deadline'), DEADLINE_MS); });
  t.after(async () => {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const outcome = await Promise.race([exited, deadline]);
  assert.equal(stdout, 'warned\nmode polling\nsaw web.yaml\n');
  assert.equal(outcome, 0);
});

/** inotify watches this process holds: one `inotify wd:` line per watch in /proc/self/fdinfo. */
async function inotifyWatches(): Promise<number> {
  let count = 0;
  for (const fd of await fs.readdir('/proc/self/fdinfo')) {
    const text = await fs.readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => '');
    count += text.split('\n').filter((line) => line.startsWith('inotify wd:')).length;
  }
  return count;
}

test('one inotify watch per directory, whatever the number of drop-ins', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coral-watch-count-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const servicesDir = path.join(dir, 'services.d');
  await fs.mkdir(servicesDir);
  await fs.writeFile(path.join(dir, 'coral.yaml'), 'agent: {}\n');
  for (let i = 0; i < 300; i++) await fs.writeFile(path.join(servicesDir, `svc-${i}.yaml`), `name: svc-${i}\nport: ${10_000 + i}\n`);
  const before = await inotifyWatches();
  const dirty = new DirtyLog();
  const controller = new AbortController();
  const watcher = await watchConfig({ configPath: path.join(dir, 'coral.yaml'), servicesDir, resyncMs: 0, logger: createLogger({ level: 'silent' }), signal: controller.signal, onDirty: dirty.onDirty });
  t.after(() => watcher.close());
  const held = (await inotifyWatches()) - before;
  assert.ok(held <= 2, `${held} inotify watches for 300 drop-ins`);
  assert.equal(watcher.watches, 2, 'the directory of coral.yaml and services.d');
  // An edit of one of them is still named.
  const from = dirty.mark();
  await fs.writeFile(path.join(servicesDir, 'svc-7.yaml'), 'name: svc-7\nport: 20007\n');
  const reason = await dirty.waitFor(byName('svc-7.yaml'), from, 'edit among 300');
  assert.equal(reason.path, path.join(servicesDir, 'svc-7.yaml'));
});

test('a services.d that is a symlink to another directory: new files in the target are seen at once, and a re-pointed link is followed', async (t) => {
  const f = await setUp(t, { servicesDir: (dir) => path.join(dir, 'services.d') });
  // Replace the directory by a symlink to another one, as a configuration-management tool does.
  const first = path.join(f.dir, 'releases', 'one');
  const second = path.join(f.dir, 'releases', 'two');
  await fs.mkdir(first, { recursive: true });
  await fs.mkdir(second, { recursive: true });
  await fs.rm(f.servicesDir, { recursive: true });
  let from = f.dirty.mark();
  await fs.symlink(first, f.servicesDir);
  await f.dirty.waitFor(byName('services.d'), from, 'services.d replaced by a symlink');
  from = f.dirty.mark();
  await fs.writeFile(path.join(first, 'web.yaml'), 'name: web\nport: 8080\n');
  const seen = await f.dirty.waitFor(byName('web.yaml'), from, 'a new file in the symlink target');
  assert.equal(seen.path, path.join(f.servicesDir, 'web.yaml'), 'named as the loader names it: under services_dir');

  // Re-point the link (atomically, as `ln -sfn` through a rename does): the new target is watched, the old one no longer.
  const tmpLink = path.join(f.dir, '.services.d.new');
  await fs.symlink(second, tmpLink);
  from = f.dirty.mark();
  await fs.rename(tmpLink, f.servicesDir);
  await f.dirty.waitFor((r) => r.event === 'replaced', from, 'the re-pointed symlink');
  from = f.dirty.mark();
  await fs.writeFile(path.join(first, 'old.yaml'), 'name: old\nport: 8081\n');
  await fs.writeFile(path.join(second, 'db.yaml'), 'name: db\nport: 5432\n');
  await f.dirty.waitFor(byName('db.yaml'), from, 'a new file in the new target');
  assert.ok(!f.dirty.seen.slice(from).some(byName('old.yaml')), 'the old target is no longer watched');
});

test('resyncSoon reports a resync at once', async (t) => {
  const f = await setUp(t);
  const from = f.dirty.mark();
  f.watcher.resyncSoon('descriptors_exhausted');
  const reason = await f.dirty.waitFor((r) => r.kind === 'resync', from, 'the early resync');
  assert.equal(reason.event, 'descriptors_exhausted');
});

test('the poller reports a drop-in written the moment it starts (between its listing and its first poll)', async (t) => {
  // chokidar's first poll of a directory is its baseline; an entry created after the listing but
  // before that poll was in neither and went unreported (22 of 40 starts missed it on a busy
  // machine). Twenty starts, each with a write right after, must each see the file.
  const { pollConfig } = await import('../src/watch/poll-config.js');
  const logger = createLogger({ level: 'silent' });
  for (let i = 0; i < 20; i++) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coral-poll-start-'));
    t.after(() => fs.rm(dir, { recursive: true, force: true }));
    const servicesDir = path.join(dir, 'services.d');
    await fs.mkdir(servicesDir);
    let seen: () => void = () => {};
    const saw = new Promise<void>((resolve) => { seen = resolve; });
    const poller = await pollConfig({
      layout: { configDir: dir, mainName: 'coral.yaml', servicesDir, servicesParent: dir },
      servicesReal: undefined, intervalMs: 50, awaitWriteFinishMs: 20, logger,
      onChange: (c) => { if (c.path === path.join(servicesDir, 'web.yaml')) seen(); },
    });
    try {
      // Synchronous, so the write does not queue behind the poller's first stat on libuv's pool.
      writeFileSync(path.join(servicesDir, 'web.yaml'), 'name: web\n');
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([saw.then(() => 'seen'), new Promise<string>((resolve) => { timer = setTimeout(() => resolve('missed'), DEADLINE_MS); })]);
      clearTimeout(timer);
      assert.equal(outcome, 'seen', `start ${i + 1}: web.yaml written right after the poller started was never reported`);
    } finally {
      await poller.close();
    }
  }
});
