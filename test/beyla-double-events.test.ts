// The double's shared-clock events: overlapping instances count the same events, so a test can compute the true total.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import YAML from 'yaml';
import { fetchText } from '../src/beyla/fetch-text.js';
import { pickFreePorts } from '../src/beyla/pick-free-ports.js';
import { beylaDoublePath } from './beyla-double/beyla-double-path.js';

type Observed = { count: number; slow: number; sumSeconds: number };
/** The double's own metrics module (plain JavaScript beside the script, not compiled). */
const doubleMetrics = (await import(pathToFileURL(join(dirname(beylaDoublePath()), 'metrics.mjs')).href)) as {
  observedEvents: (o: { periodMs: number; attachedAtMs: number; nowMs: number }) => Observed;
  eventSeconds: (k: number) => number;
};
const observed = doubleMetrics.observedEvents;
const eventSeconds = doubleMetrics.eventSeconds;

test('observedEvents counts the events k*period in (attached, now], as a brute-force count does', () => {
  for (const periodMs of [1, 3, 7]) {
    for (let attachedAtMs = 1000; attachedAtMs < 1040; attachedAtMs += 3) {
      for (const nowMs of [attachedAtMs, attachedAtMs + 1, attachedAtMs + 95, attachedAtMs + 400]) {
        let count = 0;
        let slow = 0;
        let sum = 0;
        for (let k = 0; k * periodMs <= nowMs; k += 1) {
          if (k * periodMs <= attachedAtMs) continue;
          count += 1;
          slow += k % 10 === 0 ? 1 : 0;
          sum += eventSeconds(k);
        }
        const got = observed({ periodMs, attachedAtMs, nowMs });
        assert.deepEqual([got.count, got.slow], [count, slow], `period ${periodMs} (${attachedAtMs}, ${nowMs}]`);
        assert.ok(Math.abs(got.sumSeconds - sum) < 1e-9);
      }
    }
  }
});

test('FAKE_BEYLA_EVENTS_MS: the exported counter is the shared-clock count since the instance attached', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'double-events-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [metrics = 0, health = 0] = await pickFreePorts(2);
  const config = join(dir, 'beyla.yaml');
  await writeFile(config, YAML.stringify({
    discovery: { instrument: [{ open_ports: '1' }], poll_interval: '100ms', min_process_age: '0s' },
    prometheus_export: { port: metrics, path: '/metrics' },
    health_check: { port: health },
  }));
  const child = spawn(beylaDoublePath(), ['-config', config], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', FAKE_BEYLA_EVENTS_MS: '2' }, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.after(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  const url = `http://127.0.0.1:${metrics}/metrics`;
  const deadline = Date.now() + 10_000;
  let text = '';
  while (!/beyla_double_attached_at_ms \d/.test(text)) {
    assert.ok(Date.now() < deadline, 'the double exports the shared-clock families within 10 s');
    text = await fetchText(url, { timeoutMs: 1000 }).catch(() => '');
    if (!/beyla_double_attached_at_ms \d/.test(text)) await new Promise((r) => setTimeout(r, 20));
  }
  for (let round = 0; round < 3; round += 1) {
    const before = Date.now();
    const body = await fetchText(url, { timeoutMs: 2000 });
    const after = Date.now();
    const attachedAtMs = Number(/^beyla_double_attached_at_ms (\d+)$/m.exec(body)?.[1]);
    const count = Number(/^beyla_double_observed_events_total\{service_name="double-clock"\} (\d+)$/m.exec(body)?.[1]);
    const low = observed({ periodMs: 2, attachedAtMs, nowMs: before }).count;
    const high = observed({ periodMs: 2, attachedAtMs, nowMs: after }).count;
    assert.ok(count >= low && count <= high, `count ${count} within [${low}, ${high}]`);
    assert.match(body, new RegExp(`^http_client_request_duration_seconds_count\\{service_name="double-clock"\\} ${count}$`, 'm'));
    // Rounds at different instants (at least 15 events apart), not a wait for an event.
    await new Promise((r) => setTimeout(r, 30));
  }
});
