// Permission problems explain themselves: the real CLI run as an unprivileged user (uid 65534) against root-owned files and socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { startControlServer } from '../src/control/start-control-server.js';
import { createLogger } from '../src/log.js';

const CLI = fileURLToPath(new URL('../src/cli/coral.js', import.meta.url));
const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

function runAsNobody(args: string[], configPath: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    uid: NOBODY, gid: NOBODY, cwd: '/',
    env: { PATH: process.env.PATH ?? '', CORAL_CONFIG: configPath }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000).unref(); // a hung child is SIGKILLed, so the awaited exit still comes and nothing outlives the test
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, out, err });
    });
  });
}

async function setup(t: { after(fn: () => Promise<void>): void }, open: boolean): Promise<{ dir: string; config: string; services: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'coral-perm-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'coral.yaml');
  await writeFile(config, `agent:\n  control:\n    socket: ${path.join(dir, 'ctl.sock')}\n`, { mode: 0o644 });
  const services = path.join(dir, 'services.d');
  await mkdir(services, { mode: 0o755 });
  await writeFile(path.join(services, 'web.yaml'), 'name: web\nport: 3000\n', { mode: 0o644 });
  await chmod(dir, open ? 0o755 : 0o700);
  return { dir, config, services };
}

test('an unreadable coral.yaml: exit 77 with the group hint', { skip: !asRoot && 'needs root to run a child as another user' }, async (t) => {
  const { config } = await setup(t, false);
  const r = await runAsNobody(['connect', 'api:8080'], config);
  assert.equal(r.code, 77, r.err);
  assert.match(r.err, /coral\.yaml: permission denied\n {2}hint: run as root or as a member of group coral/);
});

test('connect and disconnect in a root-owned services.d: exit 77 with the group hint, nothing changed', { skip: !asRoot && 'needs root to run a child as another user' }, async (t) => {
  const { services, config } = await setup(t, true);
  const c = await runAsNobody(['connect', 'api:8080'], config);
  assert.equal(c.code, 77, c.err);
  assert.match(c.err, new RegExp(`cannot write to the services directory ${services}: permission denied\\n {2}hint: run as root or as a member of group coral`));
  const d = await runAsNobody(['disconnect', 'web'], config);
  assert.equal(d.code, 77, d.err);
  assert.match(d.err, /permission denied\n {2}hint: run as root or as a member of group coral/);
  assert.deepEqual(await readdir(services), ['web.yaml']);
  const ls = await runAsNobody(['services'], config);
  assert.equal(ls.code, 0, 'reading is allowed');
  assert.match(ls.out, /^web\s+3000/m);
});

test('status on a socket the user may not open: exit 77 with the group hint', { skip: !asRoot && 'needs root to run a child as another user' }, async (t) => {
  const { dir, config } = await setup(t, true);
  const logger = createLogger({ level: 'fatal', env: {}, destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  const server = await startControlServer({ socketPath: path.join(dir, 'ctl.sock'), logger, group: 'no-such-group-for-tests', handlers: { status: () => ({ state: 'ready' }), reload: async () => ({ ok: true }) } });
  t.after(() => server.close());
  const r = await runAsNobody(['status'], config);
  assert.equal(r.code, 77, r.err);
  assert.match(r.err, /permission denied on .*ctl\.sock\n {2}hint: run as root or as a member of group coral/);
});
