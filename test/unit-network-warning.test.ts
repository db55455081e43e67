// The agent warns at start when the unit's IPAddressDeny=any (told through its environment) would drop remote scrapes of a non-loopback metrics.listen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { unitNetworkWarning } from '../src/daemon/unit-network-warning.js';
import { coralYaml, createDaemonHarness } from './support/daemon-harness.js';

const UNIT = { CORAL_UNIT_IP_ADDRESS_DENY: 'any', CORAL_UNIT_IP_ADDRESS_ALLOW: 'localhost' };

test('warns only for a non-loopback listen address under a deny-all unit that allows nothing but loopback', () => {
  assert.equal(unitNetworkWarning(UNIT, '0.0.0.0:9464', 'coral.yaml')?.path, 'agent.metrics.listen');
  assert.ok(unitNetworkWarning(UNIT, ':9464', 'coral.yaml'), 'every interface');
  assert.ok(unitNetworkWarning(UNIT, '192.0.2.1:9464', 'coral.yaml'));
  assert.match(unitNetworkWarning(UNIT, '[::]:9464', 'coral.yaml')?.hint ?? '', /IPAddressAllow=.*CORAL_UNIT_IP_ADDRESS_ALLOW/);
  assert.equal(unitNetworkWarning(UNIT, '127.0.0.1:9464', 'coral.yaml'), undefined, 'loopback');
  assert.equal(unitNetworkWarning(UNIT, '[::1]:9464', 'coral.yaml'), undefined, 'IPv6 loopback');
  assert.equal(unitNetworkWarning({ ...UNIT, CORAL_UNIT_IP_ADDRESS_ALLOW: 'localhost 192.0.2.10' }, '0.0.0.0:9464', 'coral.yaml'), undefined, 'a peer is allowed');
  assert.equal(unitNetworkWarning({}, '0.0.0.0:9464', 'coral.yaml'), undefined, 'not under the unit');
});

test('a running agent under such a unit logs the warning and lists it in its status', async (t) => {
  const h = await createDaemonHarness(t, { env: UNIT });
  await writeFile(h.configPath, coralYaml({ dir: h.dir, debounce: '300ms', maxWait: '5s' }).replace('listen: 127.0.0.1:0', 'listen: 0.0.0.0:0'));
  const mark = h.mark();
  await h.start();
  const line = h.logs.slice(mark).find((r) => /IPAddressDeny=any/.test(r.msg));
  assert.ok(line, 'a warn line at start');
  assert.equal(line.level, 40);
  const status = await h.status();
  assert.ok(status.warnings.some((w: { path?: string; message: string }) => w.path === 'agent.metrics.listen' && /remote scrapes/.test(w.message)), JSON.stringify(status.warnings));
  await h.stop();
});
