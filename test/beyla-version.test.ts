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
