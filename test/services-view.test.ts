// The agent's view for `coral connect`: after its first load, a check neither lists the directory nor reads a file it knows, at any N, and still sees every change made before it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileValidators } from '../src/config/schema-validate.js';
import { DropInCache } from '../src/store/drop-in-cache.js';
import { checkConflicts } from '../src/store/edit-services.js';
import { lockServicesDir } from '../src/store/lock-services-dir.js';
import { ServicesIndex } from '../src/store/services-index.js';
import { LiveServicesView } from '../src/store/services-view.js';
import { writeDropIn } from '../src/store/write-drop-in.js';
import type { Service } from '../src/config/types.js';

const EXISTING = 2000;

const service = (name: string, port: number, file: string): Service => ({ name, ports: [{ from: port, to: port }], health: { kind: 'none' }, source: { file, line: 2, col: 1 } } as Service);

test(`with ${EXISTING} drop-ins, 50 connects cost no listing, no full load and no read; changes made just before a check are in it`, { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coral-view-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const servicesDir = join(dir, 'services.d');
  await mkdir(servicesDir);
  const configPath = join(dir, 'coral.yaml');
  await writeFile(configPath, 'agent: {}\n');
  for (let i = 0; i < EXISTING; i++) await writeFile(join(servicesDir, `svc-${i}.yaml`), `name: svc-${i}\nport: ${10_000 + i}\nhealth: none\n`);
  const view = new LiveServicesView({ configPath, env: {}, flags: {}, validators: await compileValidators(), cache: new DropInCache() });
  t.after(() => view.close());

  const first = await view.current();
  assert.equal(first.file(join(servicesDir, 'svc-7.yaml'))?.services[0]?.name, 'svc-7');
  const base = { ...view.counts };
  for (let i = 0; i < 50; i++) {
    const path = join(servicesDir, `new-${i}.yaml`);
    await lockServicesDir({ dir: servicesDir }, async (lost) => {
      const current = await view.current();
      checkConflicts({ snapshot: current, service: service(`new-${i}`, 30_000 + i, path), path, replace: false });
      await writeDropIn({ dir: servicesDir, fileName: `new-${i}.yaml`, text: `name: new-${i}\nport: ${30_000 + i}\nhealth: none\n`, signal: lost });
      view.wrote(path, service(`new-${i}`, 30_000 + i, path));
    });
  }
  assert.deepEqual(view.counts, base, 'no listing, no full load, no file read again');

  // Without the lock and without waiting: a new file, a file replaced by rename, one rewritten in place, one removed.
  writeFileSync(join(servicesDir, 'hand.yaml'), 'name: hand\nport: 40001\nhealth: none\n');
  writeFileSync(join(servicesDir, '.svc-1.tmp'), 'name: svc-1\nport: 40002\nhealth: none\n');
  renameSync(join(servicesDir, '.svc-1.tmp'), join(servicesDir, 'svc-1.yaml'));
  writeFileSync(join(servicesDir, 'svc-2.yaml'), 'name: svc-2\nport: 40003\nhealth: none\n');
  unlinkSync(join(servicesDir, 'svc-3.yaml'));
  const after = await view.current();
  assert.throws(() => checkConflicts({ snapshot: after, service: service('late', 40001, join(servicesDir, 'late.yaml')), path: join(servicesDir, 'late.yaml'), replace: false }), /port 40001 is already claimed by service "hand"/);
  assert.equal(after.claimant([{ from: 40002, to: 40002 }], 'x')?.service.name, 'svc-1');
  assert.equal(after.claimant([{ from: 40003, to: 40003 }], 'x')?.service.name, 'svc-2');
  assert.equal(after.claimant([{ from: 10_001, to: 10_003 }], 'x'), undefined, 'the old ports of svc-1 and svc-2, and removed svc-3, are free');
  assert.equal(after.file(join(servicesDir, 'svc-3.yaml')), undefined);
  assert.equal(view.counts.listed, base.listed, 'seen through the directory\'s events, not a listing');
  assert.equal(view.counts.rechecked, base.rechecked + 4, 'read again: hand, svc-1, svc-2, and svc-3 found gone');
});

test('the index answers names and ports as a scan of every service would', () => {
  const files = [
    { file: '/c/coral.yaml', status: 'valid' as const, errors: [], services: [service('legacy', 5000, '/c/coral.yaml')] },
    { file: '/c/s/a.yaml', status: 'valid' as const, errors: [], services: [{ ...service('wide', 0, '/c/s/a.yaml'), ports: [{ from: 20_000, to: 30_000 }] }] },
    { file: '/c/s/b.yaml', status: 'stale' as const, errors: [], services: [service('web', 80, '/c/s/b.yaml'), { ...service('worker', 0, '/c/s/b.yaml'), ports: [{ from: 81, to: 90 }] }] },
    { file: '/c/s/legacy.yaml', status: 'valid' as const, errors: [], services: [service('legacy', 5001, '/c/s/legacy.yaml')] },
  ];
  const index = ServicesIndex.of({ settings: { configPath: '/c/coral.yaml', servicesDir: '/c/s' }, files });
  assert.deepEqual(index.definitions('legacy').map((f) => f.file), ['/c/coral.yaml', '/c/s/legacy.yaml']);
  assert.equal(index.claimant([{ from: 85, to: 100 }], 'x')?.port, 85);
  assert.equal(index.claimant([{ from: 85, to: 100 }], 'x')?.service.name, 'worker');
  assert.equal(index.claimant([{ from: 29_999, to: 40_000 }], 'x')?.service.name, 'wide');
  assert.equal(index.claimant([{ from: 79, to: 80 }, { from: 25_000, to: 25_000 }], 'x')?.port, 80);
  assert.equal(index.claimant([{ from: 5000, to: 5001 }], 'legacy'), undefined, 'its own name never conflicts');
  index.delete('/c/s/b.yaml');
  assert.equal(index.claimant([{ from: 80, to: 90 }], 'x'), undefined);
  assert.deepEqual(index.names().sort(), ['legacy', 'wide']);
});
