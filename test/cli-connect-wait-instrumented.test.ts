// `coral connect --wait` against the running daemon with real listeners and the double's eBPF load delay: it ends once the active Beyla instruments the listener, not when it selects the port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coralAgentPath, createDaemonHarness, type DaemonHarness } from './support/daemon-harness.js';
import { freePort } from './support/free-port.js';
import { startListeningProcess } from './support/listening-process.js';
import { runNode, type NodeRun } from './support/run-node.js';

const coralPath = (): string => coralAgentPath().replace(/coral-agent\.js$/, 'coral.js');
const coral = (h: DaemonHarness, args: string[]): Promise<NodeRun> => runNode(coralPath(), [...args, '--config', h.configPath]);
const service = (name: string, port: number): string => `name: ${name}\nport: ${port}\nhealth: none\n`;

test('connect --wait ends when the listener is instrumented (eBPF load waited out, phases named); a port nothing listens on ends once selected, and says so', async (t) => {
  const [web, api] = [await startListeningProcess(t), await startListeningProcess(t)];
  const h = await createDaemonHarness(t, { fastDiscovery: true, env: { FAKE_BEYLA_EBPF_LOAD_MS: '2000' }, dropIns: { 'web.yaml': service('web', web.ports[0]!) } });
  await h.start();
  const port = api.ports[0]!;
  const r = await coral(h, ['connect', `api:${port}:none`, '--wait', '--timeout', '60s']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^Instrumented: port ${port} by Beyla generation 2 \\(pid ${api.pid}, after [\\d.]+s\\)$`, 'm'));
  assert.match(r.stderr, new RegExp(`^swap to Beyla generation 2 with port ${port}: [01] of 2 processes instrumented \\(Beyla loads its eBPF programs first\\) \\.\\.\\. \\(\\d+s\\)$`, 'm'));
  // When it returned, the agent itself says generation 2 instruments api's listener.
  const status = await h.status() as { beyla: { services: { service: string; generation: number; instrumentedPids: number[] }[] } };
  assert.deepEqual(status.beyla.services.find((s) => s.service === 'api'), { service: 'api', generation: 2, pids: [api.pid], instrumentedPids: [api.pid], listeners: [{ pid: api.pid, ports: [port] }] });
  const instrumentedAt = h.logs.findIndex((l) => l.msg === 'instrumenting process' && Number(l.beyla_pid) === api.pid);
  assert.ok(instrumentedAt >= 0, 'the double logged instrumenting api before connect --wait returned');

  const nobody = await freePort();
  const none = await coral(h, ['connect', `jobs:${nobody}:none`, '--wait', '--timeout', '60s']);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stdout, new RegExp(`^Selected: port ${nobody} in Beyla generation 3 \\(after [\\d.]+s\\); no process listens on ${nobody} yet: Beyla instruments it once one does \\(see coral status\\)$`, 'm'));
  await h.stop();
});

test('connect --wait times out (75) naming the process not instrumented when the active Beyla selects the port but never instruments it', async (t) => {
  const web = await startListeningProcess(t);
  // The eBPF load outlasts the 10 s deadline: the first instance is promoted without instrumenting web, and never does in this
  // test. (A 2 s deadline was shorter than the double's own start on a loaded machine: /healthz did not answer in time.)
  const h = await createDaemonHarness(t, { fastDiscovery: true, readinessTimeout: '10s', env: { FAKE_BEYLA_EBPF_LOAD_MS: '120000' } });
  await h.start();
  const port = web.ports[0]!;
  const r = await coral(h, ['connect', `web:${port}:none`, '--wait', '--timeout', '25s']);
  assert.equal(r.code, 75, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^Beyla generation 1 selects port ${port}; waiting for it to instrument web pid ${web.pid} \\(port ${port}\\) \\.\\.\\. \\(\\d+s\\)$`, 'm'));
  assert.match(r.stderr, new RegExp(`timed out after 25 s: port ${port} is not instrumented yet: web pid ${web.pid} \\(port ${port}\\)`));
  assert.match(r.stderr, /hint: the service stays connected; check later with: coral status/);
  await h.stop();
});
