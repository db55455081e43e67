// The bad-input corpus: each bad drop-in is reported at its file:line:col, and the merge keeps the file's last good content.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compileValidators } from '../src/config/schema-validate.js';
import type { Diagnostic, Snapshot } from '../src/config/types.js';
import { loadSnapshot } from '../src/store/load-snapshot.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/config/bad/', import.meta.url));
const validators = compileValidators();

/** Replaces the good drop-in (or its directory) with the bad input. */
type MakeBad = (ctx: { file: string; dir: string; root: string }) => Promise<void>;

interface Case {
  name: string;
  /** A committed fixture under test/fixtures/config/bad, or a function that makes the bad input. */
  fixture?: string;
  make?: MakeBad;
  line: number;
  col: number;
  message: RegExp;
  hint?: RegExp;
}

const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

const CASES: Case[] = [
  { name: 'malformed flow list', fixture: 'malformed-flow.yaml', line: 3, col: 1, message: /^invalid YAML: Flow sequence .*end with a \]/ },
  { name: 'unclosed quote', fixture: 'malformed-quote.yaml', line: 3, col: 1, message: /^invalid YAML: Missing closing "quote/ },
  { name: 'bad indentation', fixture: 'malformed-indent.yaml', line: 1, col: 7, message: /^invalid YAML: / },
  { name: 'duplicate key', fixture: 'duplicate-key.yaml', line: 3, col: 1, message: /^invalid YAML: Map keys must be unique/ },
  { name: 'port 0', fixture: 'port-zero.yaml', line: 2, col: 7, message: /^port is 0, outside 1-65535$/ },
  { name: 'port 65536', fixture: 'port-65536.yaml', line: 2, col: 7, message: /^port is 65536, outside 1-65535$/ },
  { name: 'port -1', fixture: 'port-negative.yaml', line: 2, col: 7, message: /^port is -1, outside 1-65535$/ },
  { name: 'port "80" (a string)', fixture: 'port-quoted.yaml', line: 2, col: 7, message: /^port must be an integer, not "80"$/ },
  { name: 'port "8080-80"', fixture: 'port-range-as-port.yaml', line: 2, col: 7, message: /^port must be an integer, not "8080-80"$/ },
  { name: 'reversed range "8080-80" in ports', fixture: 'ports-reversed-range.yaml', line: 2, col: 15, message: /^range "8080-80" is reversed: write "80-8080"$/ },
  { name: 'range past 65535', fixture: 'ports-range-over-max.yaml', line: 4, col: 5, message: /^port 70000 in "65000-70000" is out of range/ },
  { name: 'port 0 in a ports list', fixture: 'ports-item-zero.yaml', line: 2, col: 15, message: /^ports\[1\] is 0, outside 1-65535$/ },
  { name: 'a word in a ports list', fixture: 'ports-item-word.yaml', line: 2, col: 15, message: /^ports\[1\] is not valid: "http"$/, hint: /range "a-b"/ },
  { name: 'empty ports list', fixture: 'ports-empty.yaml', line: 2, col: 8, message: /^ports is an empty list$/ },
  { name: 'ports not a list', fixture: 'ports-not-a-list.yaml', line: 2, col: 8, message: /^ports must be a list, not 8080$/ },
  { name: 'fractional port', fixture: 'port-float.yaml', line: 2, col: 7, message: /^port must be an integer, not 8080\.5$/ },
  { name: 'both port and ports', fixture: 'port-and-ports.yaml', line: 3, col: 1, message: /gives both "port" and "ports"/ },
  { name: 'no port', fixture: 'no-port.yaml', line: 2, col: 1, message: /^service "web" has no port$/ },
  { name: 'no name', fixture: 'no-name.yaml', line: 1, col: 1, message: /missing the required key "name"/ },
  { name: 'name not a DNS label', fixture: 'name-invalid.yaml', line: 1, col: 7, message: /^name is not valid: "Web_Server"$/, hint: /lowercase DNS label/ },
  { name: 'unknown key', fixture: 'unknown-key.yaml', line: 2, col: 1, message: /^unknown key "prot" at the top level$/, hint: /did you mean "port"\?/ },
  { name: 'unknown key in health', fixture: 'unknown-health-key.yaml', line: 5, col: 3, message: /^unknown key "paht" in health$/, hint: /did you mean "path"\?/ },
  { name: 'bad health shorthand', fixture: 'health-bad-shorthand.yaml', line: 3, col: 9, message: /^health is not valid: "https"$/, hint: /"tcp".*"none".*"http:\/path"/ },
  { name: 'bad health check', fixture: 'health-bad-check.yaml', line: 4, col: 10, message: /^health\.check is "htp"; expected one of tcp, http, none$/, hint: /did you mean "http"\?/ },
  { name: 'health timeout over interval', fixture: 'health-timeout-over-interval.yaml', line: 4, col: 3, message: /timeout \(5000ms\) is longer than its interval \(1000ms\)/ },
  { name: 'health interval without unit', fixture: 'health-interval-number.yaml', line: 5, col: 13, message: /^health\.interval must be a string, not 10$/, hint: /"5s"/ },
  { name: 'type typo', fixture: 'type-typo.yaml', line: 3, col: 7, message: /^type is "htttp"; expected one of/, hint: /did you mean "http"\?/ },
  { name: 'empty exe', fixture: 'exe-empty.yaml', line: 3, col: 6, message: /^exe is not valid: ""$/ },
  { name: 'duplicate service names in one file', fixture: 'duplicate-names.yaml', line: 4, col: 5, message: /service "web" is defined twice in this file \(first at line 2\)/ },
  { name: 'port conflict in one file', fixture: 'port-conflict-in-file.yaml', line: 4, col: 5, message: /port 8080 of service "admin" is already used by "web" \(line 2\)/ },
  { name: 'port conflict with coral.yaml', fixture: 'port-conflict-across-files.yaml', line: 2, col: 1, message: /port 9000 of service "web" is already used by service "base" \(.*coral\.yaml:3\); this file is rejected/ },
  { name: 'empty services list', fixture: 'services-empty.yaml', line: 1, col: 11, message: /"services" must be a non-empty list/ },
  { name: 'key beside services', fixture: 'services-extra-key.yaml', line: 4, col: 1, message: /^unknown key "name" beside "services"$/ },
  { name: 'bad port in a services list', fixture: 'services-item-port.yaml', line: 5, col: 11, message: /^services\[1\]\.port is 99999, outside 1-65535$/ },
  { name: 'top-level list', fixture: 'top-level-list.yaml', line: 1, col: 1, message: /must be a mapping .* not a list/ },
  { name: 'scalar document', fixture: 'scalar.yaml', line: 1, col: 1, message: /must be a mapping .* not a scalar/ },
  { name: 'empty file', fixture: 'empty.yaml', line: 1, col: 1, message: /^file is empty/ },
  { name: 'comments only', fixture: 'comments-only.yaml', line: 1, col: 1, message: /^file is empty/ },
  { name: 'tab indentation', fixture: 'tabs.yaml', line: 3, col: 1, message: /^invalid YAML: Tabs are not allowed/, hint: /indent with spaces/ },
  { name: 'two YAML documents', fixture: 'multi-document.yaml', line: 3, col: 1, message: /a second YAML document starts here/ },
  { name: 'alias bomb', fixture: 'alias-bomb.yaml', line: 4, col: 8, message: /^too many YAML alias expansions/ },
  // Byte-exact and file-system cases, made here.
  {
    name: 'BOM, error on line 2', line: 2, col: 1, message: /^unknown key "prot"/,
    make: async ({ file }) => writeFile(file, bytes([0xef, 0xbb, 0xbf], 'name: web\nprot: 8080\n')),
  },
  {
    name: 'CRLF line ends, error on line 3', line: 3, col: 7, message: /^port is 0, outside/,
    make: async ({ file }) => writeFile(file, 'name: web\r\nexe: /usr/bin/web\r\nport: 0\r\n'),
  },
  {
    name: 'non-UTF-8 byte', line: 3, col: 15, message: /^file is not valid UTF-8 \(byte 0xe9 at offset 35\)$/, hint: /UTF-8/,
    make: async ({ file }) => writeFile(file, bytes('name: web\nport: 8080\nexe: "/opt/caf', [0xe9], '"\n')),
  },
  {
    name: 'UTF-16 file', line: 1, col: 1, message: /^file is not valid UTF-8 \(byte 0xff at offset 0\)$/,
    make: async ({ file }) => writeFile(file, Buffer.from('\ufeffname: web\nport: 8080\n', 'utf16le')),
  },
  {
    name: '2 MiB file', line: 0, col: 0, message: /^file is 2\d{6} bytes, over the 1 MiB limit$/,
    make: async ({ file }) => writeFile(file, `name: web\nport: 8080\n${'# padding padding padding padding padding padding padding padding\n'.repeat(32_768)}`),
  },
  {
    name: 'symlink leading outside the directory', line: 0, col: 0, message: /^symlink leads outside .* \(to .*outside\.yaml\): refusing to follow it$/,
    make: async ({ file, root }) => {
      const outside = join(root, 'outside.yaml');
      await writeFile(outside, 'name: web\nport: 8081\n');
      await rm(file);
      await symlink(outside, file);
    },
  },
  {
    name: 'world-writable file', line: 0, col: 0, message: /^file is world-writable \(mode 666\): refusing to trust it$/, hint: /chmod o-w/,
    make: async ({ file }) => {
      await writeFile(file, 'name: web\nport: 8081\n');
      await chmod(file, 0o666);
    },
  },
  {
    name: 'world-writable directory', line: 0, col: 0, message: /^ignored: it sits in a world-writable directory$/,
    make: async ({ file, dir }) => {
      await writeFile(file, 'name: web\nport: 8081\n');
      await chmod(dir, 0o777);
    },
  },
  {
    name: 'a directory named like a drop-in', line: 0, col: 0, message: /^not a regular file$/,
    make: async ({ file }) => {
      await rm(file);
      await mkdir(file);
    },
  },
  {
    name: 'dangling symlink', line: 0, col: 0, message: /^dangling symlink/,
    make: async ({ file, dir }) => {
      await rm(file);
      await symlink(join(dir, 'gone.yaml'), file);
    },
  },
];

const MAIN = 'agent:\n  services:\n    - name: base\n      port: 9000\n';
const GOOD = 'name: web\nport: 8080\nhealth: http:/ready\n';

async function setUp(): Promise<{ root: string; dir: string; file: string; configPath: string }> {
  const root = await mkdtemp(join(tmpdir(), 'coral-corpus-'));
  const dir = join(root, 'services.d');
  await mkdir(dir, { mode: 0o755 });
  await chmod(dir, 0o755);
  const configPath = join(root, 'coral.yaml');
  await writeFile(configPath, MAIN);
  return { root, dir, file: join(dir, '20-web.yaml'), configPath };
}

async function makeBad(c: Case, ctx: { file: string; dir: string; root: string }): Promise<void> {
  if (c.make) return c.make(ctx);
  await writeFile(ctx.file, await readFile(join(FIXTURES, c.fixture as string)));
}

function errorsFor(snapshot: Snapshot, file: string): Diagnostic[] {
  return snapshot.diagnostics.filter((d) => d.file === file && d.severity === 'error');
}

function assertReported(c: Case, snapshot: Snapshot, file: string): void {
  const errors = errorsFor(snapshot, file);
  const hit = errors.find((d) => c.message.test(d.message));
  assert.ok(hit, `expected an error matching ${c.message} for ${file}; got ${JSON.stringify(errors, null, 1)}`);
  assert.equal(`${hit.file}:${hit.line}:${hit.col}`, `${file}:${c.line}:${c.col}`);
  if (c.hint) assert.match(hit.hint ?? '', c.hint);
  // The file's own state carries the same error (what `coral-agent check --json` shows per file).
  assert.ok(snapshot.files.find((f) => f.file === file)?.errors.some((e) => c.message.test(e.message)));
}

test('the corpus has at least 30 bad inputs, every committed fixture is in the table', async () => {
  const { readdir } = await import('node:fs/promises');
  const committed = (await readdir(FIXTURES)).sort();
  const listed = CASES.flatMap((c) => (c.fixture ? [c.fixture] : [])).sort();
  assert.deepEqual(listed, committed);
  assert.ok(CASES.length >= 30, `${CASES.length} cases`);
});

for (const c of CASES) {
  test(`bad input: ${c.name} -> reported at line ${c.line}, col ${c.col}; last good content kept`, async (t) => {
    const ctx = await setUp();
    t.after(() => rm(ctx.root, { recursive: true, force: true }));
    await writeFile(ctx.file, GOOD);
    const good = await loadSnapshot({ configPath: ctx.configPath, env: {}, validators });
    assert.deepEqual(good.snapshot.services.map((s) => [s.name, s.ports]), [['base', [{ from: 9000, to: 9000 }]], ['web', [{ from: 8080, to: 8080 }]]]);
    assert.equal(good.snapshot.files.find((f) => f.file === ctx.file)?.status, 'valid');

    await makeBad(c, ctx);
    const { snapshot, invalidFiles } = await loadSnapshot({ configPath: ctx.configPath, env: {}, validators, previous: good.snapshot });
    assertReported(c, snapshot, ctx.file);
    assert.ok(invalidFiles.includes(ctx.file), 'the file is listed as invalid');
    const state = snapshot.files.find((f) => f.file === ctx.file);
    assert.equal(state?.status, 'stale');
    assert.deepEqual(state?.services.map((s) => s.name), ['web']);
    // The merge kept the last good web service, with its port and health, beside base.
    assert.deepEqual(snapshot.services.map((s) => [s.name, s.ports]), [['base', [{ from: 9000, to: 9000 }]], ['web', [{ from: 8080, to: 8080 }]]]);
    assert.deepEqual(snapshot.services.find((s) => s.name === 'web')?.health, { kind: 'http', path: '/ready', intervalMs: 10_000, timeoutMs: 2000 });
    assert.ok(snapshot.diagnostics.some((d) => d.severity === 'warning' && d.file === ctx.file && /last valid content stays in effect/.test(d.message)));

    // A second bad load keeps it too: the stale file's content is carried from snapshot to snapshot.
    const again = await loadSnapshot({ configPath: ctx.configPath, env: {}, validators, previous: snapshot });
    assert.equal(again.snapshot.files.find((f) => f.file === ctx.file)?.status, 'stale');
    assert.ok(again.snapshot.services.some((s) => s.name === 'web'));
  });
}

test('bad inputs with no previous good version are rejected and contribute nothing', async (t) => {
  for (const c of CASES) {
    const ctx = await setUp();
    t.after(() => rm(ctx.root, { recursive: true, force: true }));
    await writeFile(ctx.file, GOOD);
    await makeBad(c, ctx);
    const { snapshot } = await loadSnapshot({ configPath: ctx.configPath, env: {}, validators });
    assertReported(c, snapshot, ctx.file);
    const state = snapshot.files.find((f) => f.file === ctx.file);
    assert.equal(state?.status, 'rejected', c.name);
    assert.deepEqual(state?.services, [], c.name);
    assert.deepEqual(snapshot.services.map((s) => s.name), ['base'], c.name);
  }
});

test('fixing the bad file brings its new content into effect', async (t) => {
  const ctx = await setUp();
  t.after(() => rm(ctx.root, { recursive: true, force: true }));
  await writeFile(ctx.file, GOOD);
  const good = await loadSnapshot({ configPath: ctx.configPath, env: {}, validators });
  await writeFile(ctx.file, await readFile(join(FIXTURES, 'port-zero.yaml')));
  const bad = await loadSnapshot({ configPath: ctx.configPath, env: {}, validators, previous: good.snapshot });
  await writeFile(ctx.file, 'name: web\nports: [8081, "8090-8091"]\n');
  const fixed = await loadSnapshot({ configPath: ctx.configPath, env: {}, validators, previous: bad.snapshot });
  assert.equal(fixed.snapshot.files.find((f) => f.file === ctx.file)?.status, 'valid');
  assert.deepEqual(fixed.snapshot.services.find((s) => s.name === 'web')?.ports, [{ from: 8081, to: 8081 }, { from: 8090, to: 8091 }]);
  assert.deepEqual(fixed.snapshot.diagnostics, []);
  assert.deepEqual(fixed.invalidFiles, []);
});

test('deleting a drop-in removes its services, even one that was stale', async (t) => {
  const ctx = await setUp();
  t.after(() => rm(ctx.root, { recursive: true, force: true }));
  await writeFile(ctx.file, GOOD);
  const good = await loadSnapshot({ configPath: ctx.configPath, env: {}, validators });
  await writeFile(ctx.file, '');
  const stale = await loadSnapshot({ configPath: ctx.configPath, env: {}, validators, previous: good.snapshot });
  assert.ok(stale.snapshot.services.some((s) => s.name === 'web'));
  await rm(ctx.file);
  const gone = await loadSnapshot({ configPath: ctx.configPath, env: {}, validators, previous: stale.snapshot });
  assert.deepEqual(gone.snapshot.services.map((s) => s.name), ['base']);
  assert.deepEqual(gone.snapshot.files.map((f) => f.file), [ctx.configPath]);
});
