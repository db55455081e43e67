// coral-agent doctor: configured service ports inside net.ipv4.ip_local_port_range and not reserved are a warning with the sysctl that fixes it (real /proc in a network namespace).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ephemeralPortsCheck, parseReservedPorts } from '../src/doctor/port-range-check.js';
import { beylaDoublePath } from './beyla-double/beyla-double-path.js';
import { coralAgentPath } from './support/daemon-harness.js';
import { netnsUnavailable, runInNetns } from './support/run-in-netns.js';

test('the check: only unreserved ports inside the range count, and the fix keeps the reserved ones', () => {
  const services = [{ name: 'grpc', ports: [{ from: 50051, to: 50051 }] }, { name: 'web', ports: [{ from: 8080, to: 8080 }] }, { name: 'pool', ports: [{ from: 40000, to: 40010 }] }];
  const warn = ephemeralPortsCheck({ localPortRange: [32768, 60999], reservedPorts: parseReservedPorts('40005,40008-40009\n') }, services);
  assert.equal(warn.status, 'warn');
  assert.match(warn.message, /^grpc 50051, pool 40000-40004,40006-40007,40010: inside net\.ipv4\.ip_local_port_range \(32768-60999\)/);
  assert.equal(warn.hint, 'sysctl -w net.ipv4.ip_local_reserved_ports=40000-40010,50051 (and the same line in /etc/sysctl.d/ to keep it)');
  assert.equal(ephemeralPortsCheck({ localPortRange: [32768, 60999], reservedPorts: parseReservedPorts('40000-40010,50051') }, services).status, 'ok');
  assert.equal(ephemeralPortsCheck({ localPortRange: [32768, 60999], reservedPorts: [] }, [services[1]!]).status, 'ok', 'below the range');
  assert.equal(ephemeralPortsCheck({}, services).status, 'warn', 'an unreadable range is said so');
});

test('coral-agent doctor reads the namespace\'s ip_local_port_range and ip_local_reserved_ports', { skip: netnsUnavailable() }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coral-doctor-ports-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'services.d'));
  await writeFile(join(dir, 'services.d', 'pool.yaml'), 'name: pool\nports: ["40000-40019"]\nhealth: none\n');
  await writeFile(join(dir, 'services.d', 'web.yaml'), 'name: web\nport: 8080\nhealth: none\n');
  const conf = join(dir, 'coral.yaml');
  await writeFile(conf, `agent:\n  runtime_dir: ${join(dir, 'run')}\n  services_dir: ${join(dir, 'services.d')}\n  control:\n    socket: ${join(dir, 'ctl.sock')}\n  beyla:\n    binary: ${beylaDoublePath()}\n`);
  const doctor = async (sysctls: Record<string, string>): Promise<{ status: string; message: string; hint?: string }> => {
    const run = await runInNetns({ script: coralAgentPath(), args: ['doctor', '--json', '--config', conf], sysctls, env: { PATH: process.env.PATH ?? '' } });
    const checks = (JSON.parse(run.stdout) as { checks: { id: string; status: string; message: string; hint?: string }[] }).checks;
    const check = checks.find((c) => c.id === 'ephemeral_ports');
    assert.ok(check, `no ephemeral_ports check in ${run.stdout.slice(0, 500)} ${run.stderr.slice(0, 500)}`);
    return check;
  };
  const exposed = await doctor({ 'net.ipv4.ip_local_port_range': '40000 40019', 'net.ipv4.ip_local_reserved_ports': '40005' });
  assert.equal(exposed.status, 'warn');
  assert.match(exposed.message, /^pool 40000-40004,40006-40019: inside net\.ipv4\.ip_local_port_range \(40000-40019\)/);
  assert.match(exposed.hint ?? '', /^sysctl -w net\.ipv4\.ip_local_reserved_ports=40000-40019 /);
  const fixed = await doctor({ 'net.ipv4.ip_local_port_range': '40000 40019', 'net.ipv4.ip_local_reserved_ports': '40000-40019' });
  assert.equal(fixed.status, 'ok', fixed.message);
});
