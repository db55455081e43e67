// Reading the config dir from disk: which names are drop-ins, their order, ConfigMap layouts, and the main file's last good state.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { compileValidators } from '../src/config/schema-validate.js';
import { CoralError } from '../src/errors.js';
import { loadSnapshot } from '../src/store/load-snapshot.js';

const validators = compileValidators();

async function configDir(t: TestContext, main = 'agent: {}\n'): Promise<{ root: string; dir: string; configPath: string }> {
  const root = await mkdtemp(join(tmpdir(), 'coral-store-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'services.d');
  await mkdir(dir);
  await chmod(dir, 0o755);
  const configPath = join(root, 'coral.yaml');
  await writeFile(configPath, main);
  return { root, dir, configPath };
}

test('only *.yaml and *.yml are read; hidden, editor, temp, package-manager and lock files are ignored', async (t) => {
  const { dir, configPath } = await configDir(t);
  const ignored = [
    '.hidden.yaml', '.#web.yaml', 'web.yaml~', 'web.yaml.swp', 'web.yaml.swo', 'web.yaml.tmp', 'web.yaml.bak', 'web.yaml.orig',
    'web.yaml.dpkg-old', 'web.yaml.dpkg-dist', 'web.yaml.dpkg-new', 'web.yaml.rpmnew', 'web.yaml.rpmsave', 'web.yaml.lock',
    'web.json', 'README', 'web.YAML.txt',
  ];
  for (const name of ignored) await writeFile(join(dir, name), 'this: [is not valid YAML nor a service\n');
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'sub', 'nested.yaml'), 'name: nested\nport: 1\n');
  await writeFile(join(dir, 'a.yml'), 'name: a\nport: 8001\n');
  await writeFile(join(dir, 'b.yaml'), 'name: b\nport: 8002\n');
  const { snapshot } = await loadSnapshot({ configPath, env: {}, validators });
  assert.deepEqual(snapshot.files.map((f) => f.file), [configPath, join(dir, 'a.yml'), join(dir, 'b.yaml')]);
  assert.deepEqual(snapshot.services.map((s) => s.name), ['a', 'b']);
  assert.deepEqual(snapshot.diagnostics, []);
});

test('drop-ins are read in lexical byte order and the last definition of a name wins', async (t) => {
  const { dir, configPath } = await configDir(t, 'agent:\n  services:\n    - name: web\n      port: 8000\n');
  const names = ['a.yaml', 'B.yaml', '9-x.yaml', '10-x.yaml'];
  for (const [i, name] of names.entries()) await writeFile(join(dir, name), `name: web\nport: ${8001 + i}\n`);
  const { snapshot } = await loadSnapshot({ configPath, env: {}, validators });
  assert.deepEqual(snapshot.files.map((f) => f.file.slice(dir.length + 1)), [configPath.slice(dir.length + 1), '10-x.yaml', '9-x.yaml', 'B.yaml', 'a.yaml']);
  assert.deepEqual(snapshot.services.map((s) => [s.name, s.ports[0]?.from, s.source.file]), [['web', 8001, join(dir, 'a.yaml')]]);
  const warnings = snapshot.diagnostics.filter((d) => d.severity === 'warning');
  assert.equal(warnings.length, 4);
  assert.match(warnings[3]?.message ?? '', new RegExp(`service "web" here replaces the one defined at ${join(dir, 'B.yaml')}:1$`));
  assert.equal(warnings[3]?.file, join(dir, 'a.yaml'));
});

test('a Kubernetes ConfigMap layout (..data symlink) is read, and its atomic swap is seen', async (t) => {
  const { dir, configPath } = await configDir(t);
  await mkdir(join(dir, '..2026_01_01_00_00_00.1'));
  await writeFile(join(dir, '..2026_01_01_00_00_00.1', 'web.yaml'), 'name: web\nport: 3000\n');
  await symlink('..2026_01_01_00_00_00.1', join(dir, '..data'));
  await symlink('..data/web.yaml', join(dir, 'web.yaml'));
  const first = await loadSnapshot({ configPath, env: {}, validators });
  assert.deepEqual(first.snapshot.services.map((s) => [s.name, s.ports]), [['web', [{ from: 3000, to: 3000 }]]]);
  assert.deepEqual(first.snapshot.files.map((f) => f.file), [configPath, join(dir, 'web.yaml')]);
  assert.deepEqual(first.snapshot.diagnostics, []);

  // kubelet's update: a new timestamped dir, ..data swapped by rename, new keys linked.
  await mkdir(join(dir, '..2026_01_02_00_00_00.2'));
  await writeFile(join(dir, '..2026_01_02_00_00_00.2', 'web.yaml'), 'name: web\nport: 3001\n');
  await writeFile(join(dir, '..2026_01_02_00_00_00.2', 'api.yaml'), 'name: api\nport: 8080\n');
  await symlink('..2026_01_02_00_00_00.2', join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  await symlink('..data/api.yaml', join(dir, 'api.yaml'));
  const second = await loadSnapshot({ configPath, env: {}, validators, previous: first.snapshot });
  assert.deepEqual(second.snapshot.services.map((s) => [s.name, s.ports[0]?.from]), [['api', 8080], ['web', 3001]]);
  assert.deepEqual(second.snapshot.diagnostics, []);
});

test('a symlink to a file inside the directory is followed', async (t) => {
  const { dir, configPath } = await configDir(t);
  await mkdir(join(dir, 'store'));
  await writeFile(join(dir, 'store', 'web'), 'name: web\nport: 3000\n');
  await symlink(join(dir, 'store', 'web'), join(dir, 'web.yaml'));
  const { snapshot } = await loadSnapshot({ configPath, env: {}, validators });
  assert.deepEqual(snapshot.services.map((s) => s.name), ['web']);
});

test('a world-writable directory is reported once, and each of its drop-ins is rejected', async (t) => {
  const { dir, configPath } = await configDir(t);
  await writeFile(join(dir, 'web.yaml'), 'name: web\nport: 3000\n');
  await chmod(dir, 0o1777);
  const { snapshot, invalidFiles } = await loadSnapshot({ configPath, env: {}, validators });
  assert.deepEqual(snapshot.services, []);
  assert.deepEqual(invalidFiles, [join(dir, 'web.yaml')]);
  const dirError = snapshot.diagnostics.find((d) => d.file === dir);
  assert.match(dirError?.message ?? '', /^directory is world-writable \(mode 1777\)/);
  assert.match(dirError?.hint ?? '', /chmod o-w/);
});

test('a missing services directory means no drop-ins, not an error; a file in its place is an error', async (t) => {
  const { root, configPath } = await configDir(t, 'agent:\n  services_dir: elsewhere.d\n');
  const missing = await loadSnapshot({ configPath, env: {}, validators });
  assert.equal(missing.snapshot.settings.servicesDir, join(root, 'elsewhere.d'));
  assert.deepEqual(missing.snapshot.diagnostics, []);
  await writeFile(join(root, 'elsewhere.d'), 'not a dir');
  const notDir = await loadSnapshot({ configPath, env: {}, validators });
  assert.deepEqual(notDir.snapshot.diagnostics.map((d) => [d.file, d.message]), [[join(root, 'elsewhere.d'), 'services_dir is not a directory']]);
});

test('an invalid or deleted main file keeps the previous settings and services; without a previous state a missing one throws', async (t) => {
  const { dir, configPath } = await configDir(t, 'agent:\n  beyla:\n    debounce: 2s\n  services:\n    - name: api\n      port: 8080\n');
  await writeFile(join(dir, 'web.yaml'), 'name: web\nport: 3000\n');
  const good = await loadSnapshot({ configPath, env: {}, validators });
  assert.equal(good.mainValid, true);

  await writeFile(configPath, 'agent:\n  beyla:\n    debounce: soon\n');
  const bad = await loadSnapshot({ configPath, env: {}, validators, previous: good.snapshot });
  assert.equal(bad.mainValid, false);
  assert.equal(bad.snapshot.settings.beyla.debounceMs, 2000);
  assert.deepEqual(bad.snapshot.origins['agent.beyla.debounce'], { kind: 'file', name: configPath, line: 3, col: 15 });
  assert.deepEqual(bad.snapshot.services.map((s) => s.name), ['api', 'web']);
  assert.equal(bad.snapshot.files[0]?.status, 'stale');
  assert.deepEqual(bad.snapshot.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}:${d.col} ${d.message}`), ['3:15 agent.beyla.debounce is not valid: "soon"']);

  await rm(configPath);
  const gone = await loadSnapshot({ configPath, env: {}, validators, previous: bad.snapshot });
  assert.deepEqual(gone.snapshot.services.map((s) => s.name), ['api', 'web']);
  assert.ok(gone.invalidFiles.includes(configPath));

  await assert.rejects(loadSnapshot({ configPath, env: {}, validators }), (error: unknown) => error instanceof CoralError && error.code === 'CONFIG_MISSING' && error.exitCode === 66);
});

test('CORAL_CONFIG picks the main file when no path is given', async (t) => {
  const { configPath } = await configDir(t, 'agent:\n  log_level: warn\n');
  const { snapshot } = await loadSnapshot({ env: { CORAL_CONFIG: configPath }, validators });
  assert.equal(snapshot.settings.configPath, configPath);
  assert.equal(snapshot.settings.logLevel, 'warn');
  assert.deepEqual(snapshot.origins.config, { kind: 'env', name: 'CORAL_CONFIG' });
});
