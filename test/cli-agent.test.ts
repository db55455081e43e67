// `coral status`, `coral services` and `coral connect --wait` against a real control socket served by a fake agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { connect } from '../src/cli/coral-connect.js';
import { services } from '../src/cli/coral-services.js';
import { status } from '../src/cli/coral-status.js';
import { runCommand, type Command } from '../src/cli/main.js';
import { startControlServer } from '../src/control/start-control-server.js';
import { createLogger } from '../src/log.js';

interface Run { code: number; out: string; err: string }

async function run(command: Command, args: string[], configPath: string): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCommand('coral', command, args, { out: (t) => out.push(t), err: (t) => err.push(t), env: { CORAL_CONFIG: configPath } });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const quiet = createLogger({ level: 'fatal', env: {}, destination: new Writable({ write: (_c, _e, cb) => cb() }) });

interface Agent { dir: string; config: string; services: string; calls: () => number }

/** A temp config whose control socket is served by `statusOf(callNumber)`. */
async function fakeAgent(t: { after(fn: () => Promise<void>): void }, statusOf: (call: number) => unknown, mainText = ''): Promise<Agent> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'coral-agent-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const socketPath = path.join(dir, 'ctl.sock');
  const config = path.join(dir, 'coral.yaml');
  await writeFile(config, `agent:\n  control:\n    socket: ${socketPath}\n${mainText}`);
  let calls = 0;
  const server = await startControlServer({
    socketPath, logger: quiet, group: 'no-such-group-for-tests',
    handlers: { status: () => statusOf(calls++), reload: async () => ({ ok: true }) },
  });
  t.after(() => server.close());
  return { dir, config, services: path.join(dir, 'services.d'), calls: () => calls };
}

const NOW = (): string => new Date().toISOString();

function readyStatus(ports: string, services: { name: string; ports: string }[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    state: 'ready', generation: 7, pid: 4242, startedAt: '2026-11-23T09:00:00.000Z',
    desired: { ports, services: services.map((s) => ({ ...s, source: 'x.yaml:1' })) },
    applied: { ports, generation: 7, at: NOW() },
    pending: false,
    beyla: { state: 'ready', generation: 3, instances: [{ generation: 3, pid: 999, role: 'active', ports: {} }], lastSwap: { generation: 3, result: 'swapped', at: '2026-11-23T09:01:00.000Z', durationMs: 1500 } },
    rejected: [],
    health: Object.fromEntries(services.map((s) => [s.name, { state: 'up', kind: 'tcp', target: `127.0.0.1:${s.ports}` }])),
    ...extra,
  };
}

test('status prints agent and Beyla state, generations, last swap, rejected files with their errors, health', async (t) => {
  const agent = await fakeAgent(t, () => readyStatus('3000,8080', [{ name: 'web', ports: '3000' }, { name: 'api', ports: '8080' }], {
    rejected: [{ file: '/etc/coral/services.d/bad.yaml', errors: [{ file: '/etc/coral/services.d/bad.yaml', line: 2, col: 7, severity: 'error', message: 'port is 70000, outside 1-65535' }] }],
    beyla: { state: 'degraded', reason: 'candidate failed', generation: 3, instances: [{ generation: 3, pid: 999, role: 'active' }], lastSwap: { generation: 4, result: 'failed', error: 'not ready within 30s', at: '2026-11-23T09:02:00.000Z', durationMs: 30000 } },
  }));
  const r = await run(status, [], agent.config);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^coral-agent: ready, generation 7, pid 4242, since 2026-11-23T09:00:00.000Z$/m);
  assert.match(r.out, /^ {2}desired: 2 services, ports 3000,8080$/m);
  assert.match(r.out, /^Beyla: degraded, generation 3 \(candidate failed\)$/m);
  assert.match(r.out, /^ {2}active: generation 3, pid 999$/m);
  assert.match(r.out, /^ {2}last swap: generation 4 failed in 30\.0s at 2026-11-23T09:02:00\.000Z: not ready within 30s$/m);
  assert.match(r.out, /^Rejected files \(1\)/m);
  assert.match(r.out, /^ {4}\/etc\/coral\/services\.d\/bad\.yaml:2:7: error: port is 70000, outside 1-65535$/m);
  assert.match(r.out, /^ {2}api {2}up \(tcp 127\.0\.0\.1:8080\)$/m);
  const json = await run(status, ['--json'], agent.config);
  assert.equal(json.code, 0);
  assert.equal((JSON.parse(json.out) as { beyla: { lastSwap: { result: string } } }).beyla.lastSwap.result, 'failed');
});

test('status copes with a sparse answer from an older or starting agent', async (t) => {
  const agent = await fakeAgent(t, () => ({ state: 'starting' }));
  const r = await run(status, [], agent.config);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^coral-agent: starting$/m);
  assert.match(r.out, /^ {2}applied: nothing yet$/m);
  assert.match(r.out, /^Beyla: unknown$/m);
  assert.match(r.out, /^ {2}last swap: none yet$/m);
});

test('status without a running agent: exit 69 saying so; an agent error answer: exit 75', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'coral-agent-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'coral.yaml');
  await writeFile(config, `agent:\n  control:\n    socket: ${path.join(dir, 'ctl.sock')}\n`);
  const r = await run(status, [], config);
  assert.equal(r.code, 69);
  assert.match(r.err, /coral-agent is not running \(no control socket at .*ctl\.sock\); the services in .*services\.d are applied when it starts/);
  assert.match(r.err, /hint: start it with: systemctl start coral-agent/);

  const broken = await fakeAgent(t, () => { throw new Error('status exploded'); });
  const b = await run(status, [], broken.config);
  assert.equal(b.code, 75);
  assert.match(b.err, /coral-agent answered HTTP 500 to GET \/v1\/status: status exploded/);
});

test('services lists name, ports, source, health and instrumented, with --json', async (t) => {
  const agent = await fakeAgent(t, () => readyStatus('3000', [{ name: 'web', ports: '3000' }, { name: 'api', ports: '8080' }], {
    health: { web: { state: 'up', kind: 'http' }, api: { state: 'down', kind: 'tcp', lastError: 'ECONNREFUSED' } },
  }), '  services:\n    - name: api\n      port: 8080\n');
  await run(connect, ['web:3000:http:/healthz'], agent.config);
  await mkdir(agent.services, { recursive: true });
  await writeFile(path.join(agent.services, 'broken.yaml'), 'name: broken\nport: 70000\n');
  const r = await run(services, [], agent.config);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.split('\n');
  assert.match(lines[0]!, /^NAME\s+PORTS\s+SOURCE\s+HEALTH\s+INSTRUMENTED$/);
  assert.match(r.out, new RegExp(`^api\\s+8080\\s+${agent.config}:5\\s+tcp: down\\s+pending$`, 'm'));
  assert.match(r.out, /^web\s+3000\s+\S+services\.d\/web\.yaml:2\s+http \/healthz: up\s+yes$/m);
  assert.match(r.err, /broken\.yaml:2:7: error: port is 70000, outside 1-65535/);
  const json = await run(services, ['--json'], agent.config);
  const parsed = JSON.parse(json.out) as { services: { name: string; instrumented: string; health: { state: string } }[]; rejected: { file: string }[]; agent: { running: boolean } };
  assert.deepEqual(parsed.services.map((s) => [s.name, s.instrumented, s.health.state]), [['api', 'pending', 'down'], ['web', 'yes', 'up']]);
  assert.match(parsed.rejected[0]!.file, /broken\.yaml$/);
  assert.equal(parsed.agent.running, true);
});

test('services without a running agent: the table from disk, health and instrumented unknown, exit 0', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'coral-agent-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'coral.yaml');
  await writeFile(config, `agent:\n  control:\n    socket: ${path.join(dir, 'ctl.sock')}\n`);
  const empty = await run(services, [], config);
  assert.equal(empty.code, 0);
  assert.match(empty.out, /^No services\. Add one with: coral connect NAME:PORT/);
  await run(connect, ['web:3000'], config);
  const r = await run(services, [], config);
  assert.match(r.out, /^web\s+3000\s+\S+web\.yaml:2\s+tcp: unknown\s+unknown$/m);
  assert.match(r.err, /coral-agent is not running: health and instrumentation are unknown/);
});

test('connect --wait shows progress until the port is live in a ready Beyla', async (t) => {
  // Calls 0-1: the change seen, in the debounce; 2-3: picked up, Beyla swapping to generation 4; then ready with the port applied.
  const agent = await fakeAgent(t, (call) => {
    if (call <= 1) return { ...readyStatus('8080', [{ name: 'api', ports: '8080' }]), pending: true, phase: { name: 'debounce', inMs: 4200 } };
    if (call <= 3) return { ...readyStatus('8080', [{ name: 'api', ports: '8080' }, { name: 'web', ports: '3000' }]), desired: { ports: '3000,8080', services: [{ name: 'web', ports: '3000' }] }, phase: { name: 'swap', generation: 4, from: 3 }, beyla: { state: 'swapping', generation: 3, instances: [{ generation: 3, role: 'active' }, { generation: 4, role: 'candidate' }] } };
    // Generation 4 selects the port, then instruments the process listening on it.
    const services = [{ service: 'web', generation: 4, pids: [1234], instrumentedPids: call <= 5 ? [] : [1234], listeners: [{ pid: 1234, ports: [3000] }] }];
    return { ...readyStatus('3000,8080', [{ name: 'api', ports: '8080' }, { name: 'web', ports: '3000' }]), beyla: { state: 'ready', generation: 4, instances: [{ generation: 4, pid: 1001, role: 'active' }], services } };
  });
  const r = await run(connect, ['web:3000', '--wait', '--timeout', '20s'], agent.config);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^Connected service web on port 3000$/m);
  assert.match(r.out, /^eBPF metrics: enabled \(Beyla restart scheduled in 5s\)$/m);
  assert.match(r.err, /^coral-agent saw the change; debounce ends in 5s \.\.\. \(\d+s\)$/m);
  assert.match(r.err, /^swap to Beyla generation 4 with port 3000: waiting for it to be ready \.\.\. \(\d+s\)$/m);
  assert.doesNotMatch(r.err, /generation 7/, 'the agent document\'s own generation is not the one being started');
  assert.match(r.err, /^Beyla generation 4 selects port 3000; waiting for it to instrument web pid 1234 \(port 3000\) \.\.\. \(\d+s\)$/m);
  assert.match(r.out, /^Instrumented: port 3000 by Beyla generation 4 \(pid 1234, after \d+\.\ds\)$/m);
});

test('connect --wait against an agent that does not report instrumentation says only that the port is selected', async (t) => {
  const agent = await fakeAgent(t, () => ({ ...readyStatus('3000', [{ name: 'web', ports: '3000' }]), beyla: { state: 'ready', generation: 4, instances: [{ generation: 4, pid: 1001, role: 'active' }] } }));
  const r = await run(connect, ['web:3000', '--wait', '--timeout', '20s'], agent.config);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^Selected: port 3000 in Beyla generation 4 \(after \d+\.\ds\); this coral-agent does not report which processes are instrumented$/m);
});

test('connect --wait: a rejected drop-in exits 65 with its errors', async (t) => {
  let file = '';
  const agent = await fakeAgent(t, () => ({ ...readyStatus('', []), rejected: [{ file, errors: [{ file, line: 2, col: 7, severity: 'error', message: 'port 3000 of service "web" is already used by service "x"' }] }] }));
  file = path.join(agent.services, 'web.yaml');
  const r = await run(connect, ['web:3000', '--wait'], agent.config);
  assert.equal(r.code, 65);
  assert.match(r.err, /web\.yaml:2:7: error: port 3000 of service "web" is already used by service "x"/);
  assert.match(r.err, /coral-agent rejected .*web\.yaml/);
});

test('connect --wait: Beyla disabled or unavailable exits 69 with the reason', async (t) => {
  const agent = await fakeAgent(t, () => ({ ...readyStatus('', []), beyla: { state: 'unavailable', reason: 'beyla binary not found on PATH', instances: [] } }));
  const r = await run(connect, ['web:3000', '--wait'], agent.config);
  assert.equal(r.code, 69);
  assert.match(r.out, /^eBPF metrics: unavailable \(beyla binary not found on PATH\)$/m);
  assert.match(r.err, /Beyla is unavailable: beyla binary not found on PATH/);

  const off = await fakeAgent(t, () => ({ ...readyStatus('', []), beyla: { state: 'disabled', instances: [] } }));
  const d = await run(connect, ['web:3000', '--wait'], off.config);
  assert.equal(d.code, 69);
  assert.match(d.err, /Beyla is disabled: agent\.beyla\.enabled is false/);
});

test('connect --wait: a swap that failed after the write exits 70 with its error', async (t) => {
  const agent = await fakeAgent(t, () => ({
    ...readyStatus('8080', [{ name: 'web', ports: '3000' }]),
    beyla: { state: 'degraded', generation: 3, instances: [{ generation: 3, role: 'active' }], lastSwap: { generation: 4, result: 'failed', error: 'candidate not ready within 30s', at: NOW() } },
  }));
  const r = await run(connect, ['web:3000', '--wait'], agent.config);
  assert.equal(r.code, 70);
  assert.match(r.err, /Beyla generation 4 failed to start with the new ports: candidate not ready within 30s/);
  assert.match(r.err, /the previous Beyla keeps running and the agent retries with backoff/);
});

test('connect --wait: not live within --timeout exits 75, the service stays connected', async (t) => {
  const agent = await fakeAgent(t, () => readyStatus('8080', [{ name: 'api', ports: '8080' }]));
  const r = await run(connect, ['web:3000', '--wait', '--timeout', '1s'], agent.config);
  assert.equal(r.code, 75);
  assert.match(r.err, /timed out after 1 s: port 3000 is not live yet \(still waiting for coral-agent to read .*web\.yaml\)/);
  assert.match(r.err, /hint: the service stays connected; check later with: coral status/);
  assert.ok(agent.calls() >= 2, 'it polled');
});

test('the status reader accepts ports as strings, lists or ranges, and never throws on odd answers', async () => {
  const { readAgentStatus } = await import('../src/cli/coral-fetch-status.js');
  const s = readAgentStatus({ desired: { ports: [3000, '9000-9010'], services: [{ name: 'web', ports: [{ from: 3000, to: 3000 }, { from: 8080, to: 8081 }] }] }, applied: { ports: 3000 }, beyla: { instances: 'none' } });
  assert.equal(s.desired.ports, '3000,9000-9010');
  assert.equal(s.desired.services[0]?.ports, '3000,8080-8081');
  assert.equal(s.applied?.ports, '3000');
  assert.deepEqual(s.beyla.instances, []);
  for (const odd of [null, 42, 'text', [], { beyla: null, rejected: {}, health: [] }]) {
    const r = readAgentStatus(odd);
    assert.equal(r.state, 'unknown');
    assert.deepEqual(r.rejected, []);
  }
});
