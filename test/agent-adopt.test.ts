// An agent SIGKILLed (after a swap, or in the middle of one) and started again: the Beyla it left keeps instrumenting; a matching one is adopted, others stop only once the new one is ready.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createDaemonHarness, isAlive, waitUntil, type DaemonHarness, type LogRecord } from './support/daemon-harness.js';
import { InstrumentationSampler } from './support/instrumentation-sampler.js';
import { startListeningProcess } from './support/listening-process.js';

const EBPF_LOAD_MS = 2000;

interface Service { port: number; pid: number }

/** A process listening on a port the OS picks (what Beyla instruments). */
async function startService(t: TestContext): Promise<Service> {
  const listener = await startListeningProcess(t);
  return { port: listener.ports[0]!, pid: listener.pid };
}

/** The harness's agent with a 2 s eBPF load delay in every Beyla double and instant discovery. */
async function agent(t: TestContext, services: Service[]): Promise<DaemonHarness> {
  const h = await createDaemonHarness(t, { debounce: '50ms', fastDiscovery: true, env: { FAKE_BEYLA_EBPF_LOAD_MS: String(EBPF_LOAD_MS) } });
  for (const [i, s] of services.entries()) await h.writeDropIn(`s${i}.yaml`, `name: s${i}\nport: ${s.port}\nhealth: none\n`);
  return h;
}

const instrumenting = (h: DaemonHarness, service: Service, instancePid?: number, from = 0): Promise<LogRecord> => h.waitForLog(
  `pid ${service.pid} instrumented`,
  (r) => r.msg === 'instrumenting process' && Number(r.beyla_pid) === service.pid && (instancePid === undefined || r.instance_pid === instancePid),
  { fromIndex: from, deadlineMs: 20_000 },
);

/** Samples coverage with every live Beyla double as serving: while the agent is down, what it left still instruments (or not). */
function sample(h: DaemonHarness, services: () => Service[]): InstrumentationSampler {
  return new InstrumentationSampler({
    logs: h.logs,
    servingPids: async () => (await h.liveInstances()).map((i) => i.pid),
    owners: () => new Map(services().map((s) => [s.port, s.pid])),
  });
}

test('agent SIGKILLed after a swap: the next agent adopts the Beyla it left (same pid, no new start), with no sample uninstrumented', async (t) => {
  const api = await startService(t);
  const h = await agent(t, [api]);
  const sampler = sample(h, () => [api]); // a port is checked from its first instrumentation on
  await h.start();
  const first = await h.waitForLivePorts(String(api.port));
  await instrumenting(h, api, first?.pid);
  h.signal('SIGKILL');
  assert.equal((await h.waitForExit()).signal, 'SIGKILL');
  const mark = h.mark();
  const restartedAt = Date.now();
  await h.start();
  await h.waitForReconcile('the first reconcile of the new agent', { fromIndex: mark, deadlineMs: 20_000 });
  const live = await h.waitForLivePorts(String(api.port), 20_000);
  await instrumenting(h, api, live?.pid); // by the Beyla that serves now (its line may be from the first run)
  const adoptedAt = Date.now();
  // Coverage samples after the adoption too (the sampler takes one every 50 ms).
  await waitUntil('samples after the adoption', () => sampler.samples.filter((s) => s.at >= adoptedAt && s.checked.length > 0).length >= 5, 20_000);
  await sampler.stop();
  const checked = sampler.samples.filter((s) => s.checked.length > 0).length;
  assert.ok(checked > 5, `only ${checked} samples checked the port`);
  assert.deepEqual(sampler.gaps(), [], 'a sample where no live Beyla instrumented the service');
  const status = await h.status();
  const active = status.beyla.instances.find((i: { role: string }) => i.role === 'active');
  assert.equal(active?.pid, first?.pid, 'the Beyla left running is the active one');
  assert.equal(active?.adopted, true, 'status says it is adopted');
  assert.equal(status.beyla.lastSwap?.result, 'adopted');
  assert.ok(h.logs.slice(mark).some((r) => /adopted from a previous agent/.test(r.msg)), 'the adoption is logged');
  assert.ok(!h.logs.slice(mark).some((r) => r.msg === 'Beyla candidate spawned'), 'no new Beyla was started');
  const record = await readFile(`${h.runtimeDir}/beyla-1.pid`, 'utf8');
  assert.match(record, new RegExp(`\\nowner ${h.pid} \\d+\\n`), 'the pid record names the new owner');
  await waitUntil('the stable address to serve the adopted instance\'s metrics', async () => /beyla_double_info\{/.test(await h.scrape()), 15_000);
  t.diagnostic(`restart to adoption: ${adoptedAt - restartedAt} ms; ${checked} samples checked, 0 uncovered`);
  await h.stop(); // the adopted Beyla is stopped with the agent: nothing left running
  assert.equal(isAlive(first?.pid ?? 0), false);
});

test('agent SIGKILLed in the middle of a swap: the old Beyla instruments until the new one is ready, then it is stopped', async (t) => {
  const api = await startService(t);
  const web = await startService(t);
  let configured = [api];
  const h = await agent(t, [api]);
  const sampler = sample(h, () => configured);
  await h.start();
  const first = await h.waitForLivePorts(String(api.port));
  await instrumenting(h, api, first?.pid);
  const swap = h.mark();
  await h.writeDropIn('s1.yaml', `name: s1\nport: ${web.port}\nhealth: none\n`);
  configured = [api, web];
  await h.waitForLog('the candidate', (r) => r.msg === 'Beyla candidate spawned', { fromIndex: swap });
  h.signal('SIGKILL'); // the candidate is still loading its eBPF programs
  await h.waitForExit();
  const mark = h.mark();
  await h.start();
  const now = await h.waitForLivePorts([api.port, web.port].sort((x, y) => x - y).join(','), 30_000);
  await instrumenting(h, api, now?.pid, mark);
  await instrumenting(h, web, now?.pid, mark);
  await sampler.stop();
  const checked = sampler.samples.filter((s) => s.checked.length > 0).length;
  assert.ok(checked > 5, `only ${checked} samples checked a port`);
  assert.deepEqual(sampler.gaps(), [], 'a sample where no live Beyla instrumented a configured service');
  assert.notEqual(now?.pid, first?.pid);
  const stopping = h.logs.findIndex((r, i) => i >= mark && r.msg === 'stopping a Beyla left by a previous agent' && r.pid === first?.pid);
  const ready = h.logs.findIndex((r, i) => i >= mark && /Beyla generation (promoted|adopted)/.test(r.msg));
  assert.ok(ready >= 0 && stopping > ready, `the old Beyla is stopped only after the new one is ready (ready at ${ready}, stopped at ${stopping})`);
  await h.stop();
});
