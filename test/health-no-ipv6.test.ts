// On a host without IPv6 loopback (a network namespace with IPv6 disabled on lo), health checks report what they always did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { ServiceHealth } from '../src/health/index.js';
import { netnsUnavailable, runInNetns } from './support/run-in-netns.js';

const unavailable = netnsUnavailable();

test('no IPv6 loopback: up on 127.0.0.1 as before; down with only 127.0.0.1 in the target and its refusal as the error', { skip: unavailable }, async () => {
  const run = await runInNetns({
    script: fileURLToPath(new URL('./support/netns-health-child.js', import.meta.url)),
    sysctls: { 'net.ipv6.conf.lo.disable_ipv6': '1' },
  });
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout.trim()) as { ipv6: string; tcpPort: number; webPort: number; downPort: number; status: Record<string, ServiceHealth> };
  assert.match(report.ipv6, /EADDRNOTAVAIL/, 'the namespace has no IPv6 loopback');
  const pick = (h: ServiceHealth | undefined) => ({ state: h?.state, target: h?.target, lastError: h?.lastError });
  assert.deepEqual(pick(report.status['tcp-up']), { state: 'up', target: `127.0.0.1:${report.tcpPort}`, lastError: undefined });
  assert.deepEqual(pick(report.status['http-up']), { state: 'up', target: `http://127.0.0.1:${report.webPort}/healthz`, lastError: undefined });
  const refused = `connect ECONNREFUSED 127.0.0.1:${report.downPort}`;
  assert.deepEqual(pick(report.status['tcp-down']), { state: 'down', target: `127.0.0.1:${report.downPort}`, lastError: refused });
  assert.deepEqual(pick(report.status['http-down']), { state: 'down', target: `http://127.0.0.1:${report.downPort}/healthz`, lastError: refused });
});
