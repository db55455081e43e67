// A stop during a swap does not wait for the candidate to become ready: apply() callers that abort stop waiting, and a SIGTERMed agent exits within seconds.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { BeylaSupervisor, type SupervisorStatus } from '../src/beyla/supervisor.js';
import type { ApplyOutcome } from '../src/beyla/supervisor-types.js';
import { startSupervisor } from './support/supervisor-under-test.js';
import { createDaemonHarness, isAlive } from './support/daemon-harness.js';
import { desired, settings, waitFor } from './support/supervisor-fixtures.js';

/** `promise`, or a rejection after `ms` saying what did not come. */
async function within<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms); });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function supervisor(t: TestContext): Promise<{ sup: BeylaSupervisor; states: SupervisorStatus[] }> {
  return startSupervisor(t, { prefix: 'coral-apply-abort', settings: settings() });
}

test('an apply() whose signal aborts while its candidate waits for readiness answers failed at once; the stop then ends both instances', async (t) => {
  const { sup, states } = await supervisor(t);
  assert.equal((await sup.apply(desired(8080))).result, 'started');
  const stuck = settings({ readiness: { timeoutMs: 30_000, minUptimeMs: 300, requireInstrumented: false }, config: { x_test_double: { fault: 'never-ready' } } });
  const caller = new AbortController();
  const outcome: Promise<ApplyOutcome> = sup.apply(desired(8081), stuck, caller.signal);
  await waitFor('the candidate', () => sup.status().instances.some((i) => i.role === 'candidate' && i.pid));
  caller.abort();
  // Before: the caller waited out the 30 s readiness timeout.
  const answered = await within('the aborted caller\'s outcome', outcome, 5000);
  assert.equal(answered.result, 'failed');
  assert.match(answered.error ?? '', /stopping/);
  assert.equal(answered.generation, 1, 'the old instance still serves');
  assert.equal(sup.status().generation, 1, 'the candidate was not promoted');
  await within('the supervisor\'s stop', sup.stop(), 10_000);
  const pids = [...new Set(states.flatMap((s) => s.instances.map((i) => i.pid ?? 0)))].filter((pid) => pid > 0);
  assert.equal(pids.length, 2);
  assert.deepEqual(pids.filter(isAlive), [], 'no instance outlives the stop');
  assert.equal((await sup.apply(desired(8082), undefined, AbortSignal.abort())).result, 'failed', 'nothing is applied once stopped');
});

test('SIGTERM while a swap waits for a 40 s eBPF load: the agent exits within 10 s, code 0, no Beyla left', async (t) => {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const h = await createDaemonHarness(t, { fastDiscovery: true, readinessTimeout: '45s', dropIns: { 'a.yaml': 'name: a\nport: 9\nhealth: none\n' } });
  const yaml = await readFile(h.configPath, 'utf8');
  await writeFile(h.configPath, yaml.replace('      discovery: { poll_interval: 100ms, min_process_age: 0s }', '      discovery: { poll_interval: 100ms, min_process_age: 0s }\n      x_test_double: { ebpf_load_ms: 40000 }'));
  await h.start();
  const mark = h.mark();
  // A service that really listens: the candidate is ready only once it instruments it, after the load.
  await h.writeDropIn('api.yaml', `name: api\nport: ${port}\nhealth: none\n`);
  await h.waitForLog('the candidate spawned', (r) => r.msg === 'Beyla candidate spawned', { fromIndex: mark });
  // Before: the stop waited for the candidate (the whole load, and up to readiness.timeout) and promoted it.
  const outcome = await h.stop(10_000);
  assert.deepEqual(outcome, { code: 0, signal: null });
  assert.equal(h.logs.slice(mark).some((r) => r.msg === 'Beyla generation promoted'), false, 'no promotion during the stop');
});
