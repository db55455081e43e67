// `coral services` against the real daemon: a service whose drop-in turned invalid stays listed (stale, file:line:col, since when); pending says why.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { coralAgentPath, createDaemonHarness, dropIn, waitUntil, type DaemonHarness } from './support/daemon-harness.js';
import { runNode, type NodeRun } from './support/run-node.js';

function services(h: DaemonHarness, json = false): Promise<NodeRun> {
  const cli = coralAgentPath().replace(/coral-agent\.js$/, 'coral.js');
  return runNode(cli, ['services', '--config', h.configPath, ...(json ? ['--json'] : [])]);
}

test('a drop-in that turns invalid: its service is still listed as instrumented, marked stale with the error and since when', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000), 'api.yaml': dropIn('api', 8080) } });
  await h.start();
  await h.waitForLivePorts('3000,8080');
  const before = new Date().toISOString();
  await h.writeDropIn('web.yaml', 'name: web\nport: 0\nhealth: none\n');
  await waitUntil('web.yaml stale in the status', async () => (await h.status()).rejected.some((r: { status: string }) => r.status === 'stale'));

  const r = await services(h);
  assert.equal(r.code, 0, r.stderr);
  const file = join(h.servicesDir, 'web.yaml');
  assert.match(r.stdout, new RegExp(`^web +3000 +${file}:1 +none +yes, stale$`, 'm'), r.stdout);
  assert.match(r.stdout, /^api +8080 .* yes$/m);
  const note = new RegExp(`^stale: web runs on the last good version of ${file}, invalid since (\\S+): ${file}:2:7: `, 'm').exec(r.stdout);
  assert.ok(note, r.stdout);
  assert.ok(note[1]! >= before.slice(0, 19), `since ${note[1]} is before the file was broken (${before})`);

  const json = JSON.parse((await services(h, true)).stdout) as { services: { name: string; instrumented: string; stale?: { file: string; since?: string; error?: string } }[]; rejected: { file: string; status: string }[] };
  const web = json.services.find((s) => s.name === 'web');
  assert.equal(web?.instrumented, 'yes');
  assert.equal(web?.stale?.file, file);
  assert.match(web?.stale?.error ?? '', /:2:7: /);
  assert.deepEqual(json.rejected.map((x) => [x.file, x.status]), [[file, 'stale']]);
  await h.stop();
});

test('a service waiting for a Beyla that is missing says pending (beyla unavailable: ...)', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'web.yaml': dropIn('web', 3000) } });
  const text = await readFile(h.configPath, 'utf8');
  await writeFile(h.configPath, text.replace(/^ {4}binary: .*$/m, `    binary: ${join(h.dir, 'no-such-beyla')}`));
  await h.start();
  await waitUntil('Beyla unavailable', async () => (await h.status()).beyla.state === 'unavailable');
  const r = await services(h);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^web +3000 .* pending \(beyla unavailable: .*no-such-beyla.*\)$/m, r.stdout);
  await h.stop();
});
