// `coral connect` and `coral disconnect`: the files they write and remove, their messages and exit codes on every refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connect } from '../src/cli/coral-connect.js';
import { disconnect } from '../src/cli/coral-disconnect.js';
import { runCommand, type Command } from '../src/cli/main.js';
import { loadSnapshot } from '../src/store/load-snapshot.js';

interface Run { code: number; out: string; err: string }

async function run(command: Command, args: string[], configPath: string): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCommand('coral', command, args, { out: (t) => out.push(t), err: (t) => err.push(t), env: { CORAL_CONFIG: configPath } });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function setup(t: { after(fn: () => Promise<void>): void }, mainText = ''): Promise<{ dir: string; config: string; services: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'coral-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'coral.yaml');
  await writeFile(config, `agent:\n  control:\n    socket: ${path.join(dir, 'ctl.sock')}\n${mainText}`);
  return { dir, config, services: path.join(dir, 'services.d') };
}

const LEGACY = '  services:\n    - name: legacy\n      port: 5000\n';

test('connect writes the drop-in the agent reads, says so, and notes the agent is not running', async (t) => {
  const { config, services } = await setup(t);
  const r = await run(connect, ['frontend:3000:http:/healthz'], config);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^Connected service frontend on port 3000$/m);
  assert.match(r.out, /^Health monitoring: enabled \(http \/healthz\)$/m);
  assert.match(r.out, /coral-agent is not running: the service is saved and will be instrumented when it starts/);
  const text = await readFile(path.join(services, 'frontend.yaml'), 'utf8');
  assert.equal(text, '# Written by coral connect; edit or remove with coral disconnect.\nname: frontend\nport: 3000\nhealth: http:/healthz\n');
  assert.equal((await stat(path.join(services, 'frontend.yaml'))).mode & 0o777, 0o644);
  assert.deepEqual(await readdir(services), ['frontend.yaml'], 'no temp or lock file left behind');
  const { snapshot } = await loadSnapshot({ configPath: config, env: {} });
  assert.deepEqual(snapshot.services.map((s) => [s.name, s.ports, s.health.kind, s.health.path]), [['frontend', [{ from: 3000, to: 3000 }], 'http', '/healthz']]);
});

test('connect with --ports, --exe, --type writes the list form; the agent parses the same service', async (t) => {
  const { config, services } = await setup(t);
  const r = await run(connect, ['api', '--ports', '8080,9000-9010', '--exe', '*gunicorn*', '--type', 'grpc', '--health', 'none'], config);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^Connected service api on ports 8080,9000-9010$/m);
  assert.match(r.out, /^Health monitoring: disabled \(health: none\)$/m);
  assert.equal(await readFile(path.join(services, 'api.yaml'), 'utf8'),
    '# Written by coral connect; edit or remove with coral disconnect.\nname: api\nports: [8080, "9000-9010"]\nexe: "*gunicorn*"\nhealth: none\ntype: grpc\n');
  const { snapshot } = await loadSnapshot({ configPath: config, env: {} });
  assert.deepEqual(snapshot.services[0]?.exe, '*gunicorn*');
  assert.deepEqual(snapshot.services[0]?.ports, [{ from: 8080, to: 8080 }, { from: 9000, to: 9010 }]);
});

test('connecting again with the same settings writes nothing and says already connected; new ports replace the file', async (t) => {
  const { config, services } = await setup(t);
  assert.equal((await run(connect, ['web:3000'], config)).code, 0);
  const file = path.join(services, 'web.yaml');
  const before = await stat(file);
  const again = await run(connect, ['web:3000'], config);
  assert.equal(again.code, 0);
  assert.match(again.out, /Service web is already connected on port 3000 \(.*web\.yaml unchanged\)/);
  assert.equal((await stat(file)).ino, before.ino, 'file not rewritten');
  const moved = await run(connect, ['web:3001'], config);
  assert.equal(moved.code, 0, moved.err);
  assert.match(moved.out, /^Updated service web on port 3001 \(was port 3000\)$/m);
  assert.match(await readFile(file, 'utf8'), /^port: 3001$/m);
});

const usageErrors: [string, string[], RegExp][] = [
  ['no service', [], /which service\? give NAME:PORT/],
  ['two services', ['a:1', 'b:2'], /one service at a time \(got 2: a:1 b:2\)/],
  ['unknown flag', ['a:1', '--bogus'], /Unknown option '--bogus'/],
  ['no port', ['web'], /no port for service "web"[\s\S]*hint: write web:PORT or --ports/],
  ['ports twice', ['web:80', '--ports', '81'], /ports given twice: "80" in web:80 and --ports 81/],
  ['health twice', ['web:80:tcp', '--health', 'none'], /health given twice/],
  ['type twice', ['web:80::grpc', '--type', 'http'], /type given twice/],
  ['bad health in spec', ['web:80:ftp'], /"ftp" is not a health check[\s\S]*HEALTH is tcp, none, http or http:\/path/],
  ['too many parts', ['web:80:tcp:http:extra'], /too many parts after the type: "extra"/],
  ['empty port item', ['web', '--ports', '80,,81'], /--ports: "80,,81" has an empty port/],
  ['bad timeout', ['web:80', '--wait', '--timeout', 'soon'], /--timeout: "soon" is not a duration/],
];

for (const [what, args, message] of usageErrors) {
  test(`connect usage error (${what}): exit 64 with the reason`, async (t) => {
    const { config, services } = await setup(t);
    const r = await run(connect, args, config);
    assert.equal(r.code, 64, r.err);
    assert.match(r.err, message);
    await assert.rejects(stat(services), { code: 'ENOENT' }, 'nothing written');
  });
}

const dataErrors: [string, string[], RegExp][] = [
  ['name not a DNS label', ['Front_End:3000'], /invalid service "Front_End":\n {2}name is not valid: "Front_End" \(Unique service name: a lowercase DNS label/],
  ['port out of range', ['web:70000'], /invalid service "web":\n {2}port is 70000, outside 1-65535/],
  ['port zero', ['web:0'], /port is 0, outside 1-65535/],
  ['reversed range', ['web:9010-9000'], /range "9010-9000" is reversed: write "9000-9010"/],
  ['not a port', ['web:http'], /ports\[0\] is not valid: "http"/],
  ['unknown type', ['web:80', '--type', 'soap'], /type is "soap"; expected one of http, grpc, sql, redis, kafka, mongo, other/],
  ['empty exe', ['web:80', '--exe', ''], /exe is not valid: ""/],
];

for (const [what, args, message] of dataErrors) {
  test(`connect invalid service (${what}): exit 65 with the schema's words`, async (t) => {
    const { config, services } = await setup(t);
    const r = await run(connect, args, config);
    assert.equal(r.code, 65, r.err);
    assert.match(r.err, message);
    await assert.rejects(stat(services), { code: 'ENOENT' }, 'nothing written');
  });
}

test('connect refuses a port another service claims, naming the file and line', async (t) => {
  const { config, services } = await setup(t);
  await run(connect, ['api', '--ports', '8080,9000-9010'], config);
  const r = await run(connect, ['other:9005'], config);
  assert.equal(r.code, 65);
  assert.match(r.err, new RegExp(`port 9005 is already claimed by service "api" \\(${path.join(services, 'api.yaml')}:2\\)`));
  assert.match(r.err, /hint: each port belongs to one service: pick another port, or disconnect api first/);
  await assert.rejects(stat(path.join(services, 'other.yaml')), { code: 'ENOENT' });
});

test('connect refuses a name defined in coral.yaml (file:line) unless --replace, which warns', async (t) => {
  const { config, services } = await setup(t, LEGACY);
  const r = await run(connect, ['legacy:5001'], config);
  assert.equal(r.code, 65);
  assert.match(r.err, new RegExp(`service "legacy" is already defined in ${config}:5`));
  assert.match(r.err, /pass --replace to override it with a drop-in/);
  await assert.rejects(stat(path.join(services, 'legacy.yaml')), { code: 'ENOENT' });
  const replaced = await run(connect, ['legacy:5001', '--replace'], config);
  assert.equal(replaced.code, 0, replaced.err);
  assert.match(replaced.err, new RegExp(`warning: this replaces the definition of "legacy" in ${config}:5`));
  const { snapshot } = await loadSnapshot({ configPath: config, env: {} });
  assert.deepEqual(snapshot.services.map((s) => [s.name, s.ports[0]?.from]), [['legacy', 5001]]);
});

test('connect refuses a name defined in another drop-in, and a file holding other services', async (t) => {
  const { config, services } = await setup(t);
  await mkdir(services);
  await writeFile(path.join(services, 'team.yaml'), 'services:\n  - name: web\n    port: 80\n  - name: worker\n    port: 81\n');
  const r = await run(connect, ['web:8080'], config);
  assert.equal(r.code, 65);
  assert.match(r.err, new RegExp(`service "web" is already defined in ${path.join(services, 'team.yaml')}:2`));
  assert.match(r.err, /edit or remove .*team\.yaml first/);
  await writeFile(path.join(services, 'mixed.yaml'), 'services:\n  - name: mixed\n    port: 90\n  - name: helper\n    port: 91\n');
  const m = await run(connect, ['mixed:92'], config);
  assert.equal(m.code, 65);
  assert.match(m.err, /mixed\.yaml also defines "helper": it was not written by coral connect/);
});

test('connect refuses to change anything while coral.yaml is invalid (65) or missing (66)', async (t) => {
  const { dir, config, services } = await setup(t, '  log_levle: debug\n');
  const r = await run(connect, ['web:80'], config);
  assert.equal(r.code, 65);
  assert.match(r.err, /the configuration is invalid, so no service was changed:\n.*coral\.yaml:4:3: error: unknown key "log_levle" in agent/);
  assert.match(r.err, /did you mean "log_level"\?/);
  await assert.rejects(stat(services), { code: 'ENOENT' });
  const missing = await run(connect, ['web:80'], path.join(dir, 'nope.yaml'));
  assert.equal(missing.code, 66);
  assert.match(missing.err, /nope\.yaml: no such file/);
});

test('connect cannot create the services dir under a regular file: exit 73', async (t) => {
  const { dir, config } = await setup(t);
  await writeFile(config, `agent:\n  control:\n    socket: ${path.join(dir, 'ctl.sock')}\n  services_dir: ${path.join(dir, 'afile', 'services.d')}\n`);
  await writeFile(path.join(dir, 'afile'), 'not a directory');
  const r = await run(connect, ['web:80'], config);
  assert.equal(r.code, 73, r.err);
  assert.match(r.err, /cannot create the services directory .*afile\/services\.d: a part of the path is not a directory/);
});

test('connect --wait without a running agent: saved, exit 69', async (t) => {
  const { config, services } = await setup(t);
  const r = await run(connect, ['web:80', '--wait'], config);
  assert.equal(r.code, 69);
  assert.match(r.err, /coral-agent is not running: the service is saved and will be instrumented when it starts; nothing to wait for/);
  assert.ok((await stat(path.join(services, 'web.yaml'))).isFile());
});

test('disconnect removes the drop-in; again is a no-op; a name in coral.yaml or another drop-in is refused with file:line', async (t) => {
  const { config, services } = await setup(t, LEGACY);
  await run(connect, ['web:80'], config);
  const r = await run(disconnect, ['web'], config);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`^Disconnected service web \\(removed ${path.join(services, 'web.yaml')}\\)$`, 'm'));
  assert.deepEqual(await readdir(services), []);
  const again = await run(disconnect, ['web'], config);
  assert.equal(again.code, 0);
  assert.match(again.out, /Service web is not connected; nothing to remove/);
  const typo = await run(disconnect, ['legacyy'], config);
  assert.match(typo.out, /did you mean "legacy"\?/);

  const legacy = await run(disconnect, ['legacy'], config);
  assert.equal(legacy.code, 65);
  assert.match(legacy.err, new RegExp(`service "legacy" is defined in ${config}:5, not by coral connect`));
  assert.match(legacy.err, /hint: remove it from .*coral\.yaml, then: systemctl reload coral-agent/);

  await writeFile(path.join(services, 'team.yaml'), 'services:\n  - name: api\n    port: 81\n');
  const other = await run(disconnect, ['api'], config);
  assert.equal(other.code, 65);
  assert.match(other.err, /service "api" is defined in .*team\.yaml:2, a drop-in not named api\.yaml/);
  assert.ok((await stat(path.join(services, 'team.yaml'))).isFile());
});

test('disconnect of a --replace drop-in brings the coral.yaml definition back', async (t) => {
  const { config } = await setup(t, LEGACY);
  await run(connect, ['legacy:5001', '--replace'], config);
  const r = await run(disconnect, ['legacy'], config);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`Its definition in ${config}:5 applies again`));
  const { snapshot } = await loadSnapshot({ configPath: config, env: {} });
  assert.deepEqual(snapshot.services.map((s) => [s.name, s.ports[0]?.from]), [['legacy', 5000]]);
});

test('disconnect usage errors exit 64; a name that cannot be a service exits 65, as in connect', async (t) => {
  const { config } = await setup(t);
  const none = await run(disconnect, [], config);
  assert.equal(none.code, 64);
  assert.match(none.err, /which service\? give its NAME/);
  const bad = await run(disconnect, ['../coral'], config);
  assert.equal(bad.code, 65);
  assert.match(bad.err, /invalid service name "\.\.\/coral"/);
  const missingDir = await run(disconnect, ['web'], config);
  assert.equal(missingDir.code, 0, 'no services.d: nothing connected');
});

test('every command prints its help with --help and exits 0', async (t) => {
  const { config } = await setup(t);
  const help = await run(connect, ['--help'], config);
  assert.equal(help.code, 0);
  assert.match(help.out, /^Usage: coral connect NAME:PORT\[:HEALTH\]\[:TYPE\]/);
  assert.match(help.out, /Exit codes: 0 connected/);
  const d = await run(disconnect, ['-h'], config);
  assert.match(d.out, /^Usage: coral disconnect NAME/);
});
