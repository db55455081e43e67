// `coral status` (text and --watch) against the running daemon with real listeners and the double's eBPF load delay: per service the generation and pids that instrument it, a candidate's handover progress, a first instance promoted at the deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { coralAgentPath, createDaemonHarness, waitUntil, type DaemonHarness } from './support/daemon-harness.js';
import { startListeningProcess } from './support/listening-process.js';
import { runNode, type NodeRun } from './support/run-node.js';

const coralPath = (): string => coralAgentPath().replace(/coral-agent\.js$/, 'coral.js');
const coral = (h: DaemonHarness, args: string[]): Promise<NodeRun> => runNode(coralPath(), [...args, '--config', h.configPath]);
const service = (name: string, port: number): string => `name: ${name}\nport: ${port}\nhealth: none\n`;

/** `coral status --watch` on a pipe: its changed frames, as they come. */
function watch(h: DaemonHarness): { frames: () => string[]; stop: () => Promise<void> } {
  const child = spawn(process.execPath, [coralPath(), 'status', '--watch', '--interval', '0.2', '--config', h.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; });
  const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
  return {
    frames: () => text.split(/^--- \S+\n/m).slice(1),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}

test('coral status shows per service the generation and pids that instrument it, and --watch shows a candidate\'s handover progress with what is missing', async (t) => {
  const [web, api] = [await startListeningProcess(t), await startListeningProcess(t)];
  const h = await createDaemonHarness(t, { fastDiscovery: true, env: { FAKE_BEYLA_EBPF_LOAD_MS: '2500' }, dropIns: { 'web.yaml': service('web', web.ports[0]!) } });
  await h.start();
  const first = await coral(h, ['status']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^Instrumentation \(processes listening on each service's ports\):$/m);
  assert.match(first.stdout, new RegExp(`^ {2}web {2}generation 1: pid ${web.pid} \\(port ${web.ports[0]}\\)$`, 'm'));

  const w = watch(h);
  t.after(w.stop);
  await h.writeDropIn('api.yaml', service('api', api.ports[0]!));
  const progress = await waitUntil('a frame with the candidate\'s progress', () => w.frames().find((f) => /^ {2}candidate 2: 0 of 2 processes instrumented, \d+ s$/m.test(f)), 20_000);
  assert.match(progress, new RegExp(`^ {4}not yet instrumented: web pid ${web.pid} port ${web.ports[0]}$`, 'm'));
  assert.match(progress, new RegExp(`^ {4}not yet instrumented: api pid ${api.pid} port ${api.ports[0]}$`, 'm'));
  assert.match(progress, new RegExp(`^ {2}web {2}generation 1: pid ${web.pid} \\(port ${web.ports[0]}\\)$`, 'm'), 'the active generation still instruments web');
  assert.match(progress, /^Beyla: swapping, generation 1/m);
  const done = await waitUntil('a frame with generation 2 instrumenting both', () => w.frames().find((f) => /^Beyla: ready, generation 2$/m.test(f) && /^ {2}api {2}generation 2/m.test(f)), 20_000);
  assert.match(done, new RegExp(`^ {2}api {2}generation 2: pid ${api.pid} \\(port ${api.ports[0]}\\)$`, 'm'));
  assert.match(done, new RegExp(`^ {2}web {2}generation 2: pid ${web.pid} \\(port ${web.ports[0]}\\)$`, 'm'));
  assert.doesNotMatch(done, /candidate/);
  await w.stop();

  // A service whose listener is gone: said so, with its port.
  await api.stop();
  const gone = await waitUntil('status without api\'s listener', async () => {
    const r = await coral(h, ['status']);
    return /^ {2}api {2}no process listens on port \d+$/m.test(r.stdout) ? r.stdout : false;
  });
  assert.match(gone, new RegExp(`^ {2}api {2}no process listens on port ${api.ports[0]}$`, 'm'));
  await h.stop();
});

test('a first instance promoted at the readiness deadline is shown plainly, naming what it did not instrument', async (t) => {
  const web = await startListeningProcess(t);
  // The eBPF load outlasts the 10 s deadline: the first instance (no older one to keep) is promoted with a warning. (A
  // shorter deadline can end before the double's own /healthz answers on a loaded machine: a failed start, not this case.)
  const h = await createDaemonHarness(t, { fastDiscovery: true, readinessTimeout: '10s', env: { FAKE_BEYLA_EBPF_LOAD_MS: '120000' }, dropIns: { 'web.yaml': service('web', web.ports[0]!) } });
  await h.start();
  const r = await coral(h, ['status']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Beyla: ready, generation 1$/m, 'the warning is its own line, not squeezed into the state line');
  assert.match(r.stdout, /^ {2}WARNING: generation 1 was promoted at the readiness deadline without instrumenting every listener \(no older Beyla to keep serving\):$/m);
  assert.match(r.stdout, new RegExp(`^ {4}web pid ${web.pid} port ${web.ports[0]} not instrumented after \\d+ s$`, 'm'));
  assert.match(r.stdout, new RegExp(`^ {2}web {2}not instrumented: pid ${web.pid} \\(port ${web.ports[0]}\\)$`, 'm'));
  const json = JSON.parse((await coral(h, ['status', '--json'])).stdout) as { beyla: { promotedAtDeadline?: { generation: number; missing: string[] } } };
  assert.equal(json.beyla.promotedAtDeadline?.generation, 1);
  assert.equal(json.beyla.promotedAtDeadline?.missing.length, 1);
  const warned = h.logs.filter((l) => l.reason_code === 'promoted_at_deadline');
  assert.equal(warned.length, 1, 'one warning log record, found by its reason code');
  assert.deepEqual([warned[0]?.level, warned[0]?.generation, warned[0]?.missing], [40, 1, json.beyla.promotedAtDeadline?.missing]);
  await h.stop();
});
