// `coral connect` over an existing service: every field that changes is said, and a file coral connect did not write (or an invalid one) needs --force.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connect } from '../src/cli/coral-connect.js';
import { runCommand } from '../src/cli/main.js';

interface Run { code: number; out: string; err: string }

async function run(args: string[], configPath: string): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCommand('coral', connect, args, { out: (t) => out.push(t), err: (t) => err.push(t), env: { CORAL_CONFIG: configPath } });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function setup(t: { after(fn: () => Promise<void>): void }): Promise<{ config: string; services: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'coral-fields-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'coral.yaml');
  await writeFile(config, `agent:\n  control:\n    socket: ${path.join(dir, 'ctl.sock')}\n`);
  return { config, services: path.join(dir, 'services.d') };
}

test('reconnecting with fewer options names every field that changes: ports, exe, health and type', async (t) => {
  const { config } = await setup(t);
  const first = await run(['api', '--ports', '8081-8082,9000-9010', '--exe', '*api*', '--health', 'http:/healthz', '--type', 'grpc'], config);
  assert.equal(first.code, 0, first.err);
  const again = await run(['api:8081'], config);
  assert.equal(again.code, 0, again.err);
  const lines = again.out.split('\n');
  assert.equal(lines[0], 'Updated service api on port 8081 (was ports 8081-8082,9000-9010)');
  assert.equal(lines[1], '  exe: *api* -> none (any process on these ports)');
  assert.equal(lines[2], '  health: http /healthz every 10s, timeout 2s -> tcp every 10s, timeout 2s');
  assert.equal(lines[3], '  type: grpc -> none');
  assert.equal(lines[4], 'Health monitoring: enabled (tcp port 8081)');

  // Only the exe changes: the ports line has no "was", and only exe is listed.
  const exe = await run(['api:8081', '--exe', '/usr/bin/api'], config);
  assert.deepEqual(exe.out.split('\n').slice(0, 2), ['Updated service api on port 8081', '  exe: none -> /usr/bin/api']);
});

test('a hand-edited NAME.yaml is not replaced without --force; with it, it is, with a warning', async (t) => {
  const { config, services } = await setup(t);
  await mkdir(services);
  const file = path.join(services, 'api.yaml');
  const hand = 'name: api\nport: 8081\nexe: /opt/api/bin/server\nhealth: http:/ready\n';
  await writeFile(file, hand);
  const refused = await run(['api:8081'], config);
  assert.equal(refused.code, 65, refused.out);
  assert.match(refused.err, new RegExp(`${file} was not written by coral connect .*: not replacing it`));
  assert.match(refused.err, /--force/);
  assert.equal(await readFile(file, 'utf8'), hand, 'the file is untouched');

  const forced = await run(['api:8081', '--force'], config);
  assert.equal(forced.code, 0, forced.err);
  assert.match(forced.out, /^ {2}exe: \/opt\/api\/bin\/server -> none/m);
  assert.match(forced.err, new RegExp(`warning: --force: replaced ${file}, which was not written by coral connect`));
  assert.match(await readFile(file, 'utf8'), /^# Written by coral connect/);
});

test('an invalid NAME.yaml is not replaced without --force, and the refusal names its error with line and column', async (t) => {
  const { config, services } = await setup(t);
  await mkdir(services);
  const file = path.join(services, 'api.yaml');
  const broken = '# Written by coral connect; edit or remove with coral disconnect.\nname: api\nport: [8081\n';
  await writeFile(file, broken);
  const refused = await run(['api:8081'], config);
  assert.equal(refused.code, 65, refused.out);
  assert.match(refused.err, new RegExp(`${file} is invalid \\(${file}:\\d+:\\d+: .*\\): not replacing it`));
  assert.equal(await readFile(file, 'utf8'), broken);
  const forced = await run(['api:8081', '--force'], config);
  assert.equal(forced.code, 0, forced.err);
  assert.match(forced.out, /^Connected service api on port 8081$/m);
  assert.match(forced.err, /which is invalid/);
});
