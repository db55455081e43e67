// Beyla's own ports never take a service's port, even when the OS's ephemeral range lies inside the configured ports (network namespace).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { netnsUnavailable, runInNetns } from './support/run-in-netns.js';

const unavailable = netnsUnavailable();

test('ephemeral range 40000-40019 and a service on 40000-40019: Beyla gets ports outside it, every service port stays instrumented and bindable', { skip: unavailable }, async () => {
  const run = await runInNetns({
    script: fileURLToPath(new URL('./support/netns-port-picking-child.js', import.meta.url)),
    sysctls: { 'net.ipv4.ip_local_port_range': '40000 40019' },
  });
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout.trim()) as {
    result: string; error?: string; portsString: string; openPortsLine?: string;
    instancePorts?: { metrics: number; health: number; internal: number }; binds: Record<string, string>;
  };
  assert.equal(report.result, 'started', report.error);
  assert.equal(report.portsString, '40000-40019', 'no service port may be dropped from instrumentation');
  assert.match(report.openPortsLine ?? '', /"40000-40019"/);
  assert.ok(report.instancePorts);
  for (const port of Object.values(report.instancePorts)) assert.ok(port < 40_000 || port > 40_019, `Beyla took service port ${port}`);
  // A port may be busy only as the source port of a client connection (the kernel's ephemeral pick, here inside
  // the service range): no listener, Beyla's or anyone's, may hold a service port.
  const failed = Object.entries(report.binds).filter(([, result]) => result !== 'ok' && !/^EADDRINUSE \((other,?)+\)$/.test(result));
  assert.deepEqual(failed, [], 'a service starting while Beyla runs must find its port free of listeners');
});
