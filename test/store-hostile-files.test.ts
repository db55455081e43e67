// Reading services.d against hostile entries: symlink loops, a FIFO or a symlink swapped in just before the open; each is a per-file diagnostic, nothing blocks.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import fsp, { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDropIns, type DropInSource } from '../src/store/read-sources.js';
import { within } from './support/within.js';

const AGENT_CLI = fileURLToPath(new URL('../src/cli/coral-agent.js', import.meta.url));

async function servicesDir(t: TestContext): Promise<{ root: string; dir: string }> {
  const root = await mkdtemp(join(tmpdir(), 'coral-hostile-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'services.d');
  await mkdir(dir);
  await writeFile(join(dir, 'web.yaml'), 'name: web\nport: 3000\nhealth: none\n');
  return { root, dir };
}

function byName(files: DropInSource[], name: string): DropInSource | undefined {
  return files.find((f) => f.file.endsWith(`/${name}`));
}

function messageOf(source: DropInSource | undefined): string | undefined {
  return source && 'error' in source ? source.error.message : undefined;
}

/**
 * Makes the next open() of `path` find `swap()` done just before it runs: the race between
 * whatever looked at the entry and the open, made deterministic.
 */
function swapBeforeOpen(t: TestContext, path: string, swap: () => Promise<void>): void {
  const original = fsp.open;
  let armed = true;
  const patched = (async (file: Parameters<typeof original>[0], ...rest: unknown[]) => {
    if (armed && String(file) === path) {
      armed = false;
      await swap();
    }
    return (original as (...args: unknown[]) => ReturnType<typeof original>)(file, ...rest);
  }) as typeof original;
  fsp.open = patched;
  syncBuiltinESMExports();
  t.after(() => {
    fsp.open = original;
    syncBuiltinESMExports();
  });
}

describe('symlink loops', () => {
  test('a drop-in that is a symlink loop is a per-file diagnostic; the other files are read', async (t) => {
    const { dir } = await servicesDir(t);
    await symlink('loop.yaml', join(dir, 'loop.yaml'));
    const listing = await readDropIns(dir);
    assert.equal(messageOf(byName(listing.files, 'loop.yaml')), 'symlink loop');
    assert.ok(byName(listing.files, 'web.yaml') && 'bytes' in byName(listing.files, 'web.yaml')!, 'web.yaml is still read');
  });

  test('a services.d that is itself a symlink loop is a directory diagnostic, not a crash', async (t) => {
    const { root } = await servicesDir(t);
    const loop = join(root, 'loop.d');
    await symlink('loop.d', loop);
    const listing = await readDropIns(loop);
    assert.deepEqual(listing.files, []);
    assert.match(listing.dirErrors[0]?.message ?? '', /symlink loop/);
  });

  test('coral-agent check names loop.yaml and exits 65 (invalid config), not 70 with a stack trace', async (t) => {
    const { root, dir } = await servicesDir(t);
    await symlink('loop.yaml', join(dir, 'loop.yaml'));
    const config = join(root, 'coral.yaml');
    await writeFile(config, `agent:\n  services_dir: ${dir}\n`);
    const run = spawnSync(process.execPath, [AGENT_CLI, 'check', '--config', config], { encoding: 'utf8' });
    assert.equal(run.status, 65, run.stderr);
    assert.match(run.stdout + run.stderr, /loop\.yaml: error: symlink loop/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  });
});

describe('entries swapped just before the open', () => {
  test('a FIFO renamed over x.yaml after it was listed is refused at once, the open never blocks', async (t) => {
    const { root, dir } = await servicesDir(t);
    const target = join(dir, 'x.yaml');
    await writeFile(target, 'name: x\nport: 3001\nhealth: none\n');
    const fifo = join(root, 'fifo');
    execFileSync('mkfifo', [fifo]);
    swapBeforeOpen(t, target, () => rename(fifo, target));
    // Should a reader be stuck in the FIFO's open, a writer opening it releases the thread at the end.
    t.after(async () => {
      try { (await fsp.open(target, constants.O_WRONLY | constants.O_NONBLOCK)).close(); } catch { /* nobody stuck */ }
    });
    const listing = await within(readDropIns(dir), 10_000, 'reading services.d with a FIFO in it');
    assert.equal(messageOf(byName(listing.files, 'x.yaml')), 'not a regular file');
    assert.ok('bytes' in byName(listing.files, 'web.yaml')!);
  });

  test('a symlink to a file outside services.d swapped in after the listing is not followed', async (t) => {
    const { root, dir } = await servicesDir(t);
    const target = join(dir, 'x.yaml');
    await writeFile(target, 'name: x\nport: 3001\nhealth: none\n');
    const secret = join(root, 'secret.yaml');
    await writeFile(secret, 'name: secret\nport: 9999\nhealth: none\n');
    swapBeforeOpen(t, target, async () => {
      await rm(target);
      await symlink(secret, target);
    });
    const listing = await readDropIns(dir);
    const x = byName(listing.files, 'x.yaml');
    assert.ok(x && !('bytes' in x && Buffer.from(x.bytes).toString().includes('secret')), 'the file outside services.d was read');
    assert.match(messageOf(x) ?? '', /symlink/);
  });
});
