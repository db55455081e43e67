// Beyla's version comes from its first log line (it has no --version flag), read from the double that behaves the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readBeylaVersion, versionFromLogLine } from '../src/beyla/beyla-version.js';
import { beylaDoublePath } from './beyla-double/beyla-double-path.js';

test('the version is read from the "Grafana Beyla" line', () => {
  assert.deepEqual(versionFromLogLine('time=2026-12-01T08:00:00Z level=INFO msg="Grafana Beyla" Version=v3.31.0 Revision=4e1f0c2 "OpenTelemetry SDK Version"=1.38.0'), { version: 'v3.31.0', revision: '4e1f0c2' });
  assert.equal(versionFromLogLine('time=x level=INFO msg="Starting main node" Version=v1'), undefined);
  assert.equal(versionFromLogLine('Beyla version v3.31.0'), undefined, 'not the form Beyla prints');
});

test('readBeylaVersion runs the binary with an unknown flag and reads its first line', async () => {
  const found = await readBeylaVersion(beylaDoublePath(), { PATH: process.env.PATH, CORAL_BEYLA_PASS_ENV: 'FAKE_BEYLA_VERSION', FAKE_BEYLA_VERSION: 'v9.8.7' });
  assert.deepEqual(found, { version: 'v9.8.7', revision: 'beyla-double' });
});

test('a binary that is not Beyla is reported, not guessed', async () => {
  await assert.rejects(readBeylaVersion('/bin/true', { PATH: process.env.PATH }), /printed no "Grafana Beyla" version line \(exit 0\)/);
  await assert.rejects(readBeylaVersion('/nonexistent/beyla', { PATH: process.env.PATH }), /could not be run/);
});

test('the running instance\'s version, from its first log line, is in the supervisor status and in coral status', { timeout: 30_000 }, async (t) => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const client = (await import('prom-client')).default;
  const { BeylaSupervisor } = await import('../src/beyla/supervisor.js');
  const { createLogger } = await import('../src/log.js');
  const { settings, desired } = await import('./support/supervisor-fixtures.js');
  const { formatStatus } = await import('../src/cli/coral-status.js');
  const { readAgentStatus } = await import('../src/cli/coral-fetch-status.js');
  const runtimeDir = await mkdtemp(join(tmpdir(), 'coral-version-'));
  t.after(() => rm(runtimeDir, { recursive: true, force: true }));
  const sup = new BeylaSupervisor({
    settings: settings({ env: { FAKE_BEYLA_VERSION: 'v9.8.7' } }), runtimeDir, logger: createLogger({ level: 'silent', env: {} }),
    registry: new client.Registry(), excludePorts: [], env: { PATH: process.env.PATH ?? '' },
  });
  t.after(() => sup.stop());
  const outcome = await sup.apply(desired(9871));
  assert.equal(outcome.result, 'started', outcome.error);
  const status = sup.status();
  assert.equal(status.instances[0]?.version, 'v9.8.7');
  const text = formatStatus(readAgentStatus({ state: 'ready', beyla: JSON.parse(JSON.stringify(status)) }));
  assert.ok(text.some((l) => /^ {2}active: generation 1, pid \d+, Beyla v9\.8\.7$/.test(l)), text.join('\n'));
});
