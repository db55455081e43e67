// A candidate that fails readiness is stopped like any instance: SIGTERM, the shutdown grace, then SIGKILL.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { BeylaSupervisor, type SupervisorStatus } from '../src/beyla/supervisor.js';
import { startSupervisor } from './support/supervisor-under-test.js';
import { isAlive } from './support/daemon-harness.js';
import { desired, settings, waitFor } from './support/supervisor-fixtures.js';

async function start(t: TestContext, stopMarginMs: number): Promise<{ sup: BeylaSupervisor; lines: Record<string, unknown>[]; states: SupervisorStatus[] }> {
  return startSupervisor(t, { prefix: 'coral-candidate-stop', settings: settings(), timing: { stopMarginMs } });
}

function candidatePid(states: SupervisorStatus[], generation: number): number {
  const found = states.flatMap((s) => s.instances).find((i) => i.generation === generation && i.role === 'candidate' && i.pid);
  assert.ok(found?.pid, `generation ${generation} was never a candidate with a pid`);
  return found.pid;
}

test('a candidate that misses its deadline and ignores SIGTERM gets SIGTERM, the shutdown grace, then SIGKILL', async (t) => {
  const stopMarginMs = 300;
  const shutdownTimeoutMs = 600;
  const { sup, lines, states } = await start(t, stopMarginMs);
  assert.equal((await sup.apply(desired(8080))).result, 'started');
  const stuck = settings({ shutdownTimeoutMs, readiness: { timeoutMs: 1500, minUptimeMs: 300, requireInstrumented: false }, config: { x_test_double: { fault: 'never-ready,hang-on-term' } } });
  const outcome = await sup.apply(desired(8081), stuck);
  assert.equal(outcome.result, 'failed');
  const pid = candidatePid(states, 2);
  assert.equal(isAlive(pid), false, 'the failed candidate is gone when the failure is reported');
  const failed = lines.find((l) => l.msg === 'Beyla candidate failed; the previous instance keeps serving' && l.generation === 2);
  const asked = lines.find((l) => l.msg === 'shutting down' && l.instance_pid === pid);
  const stopped = lines.find((l) => l.msg === 'Beyla instance stopped' && l.generation === 2);
  assert.ok(failed, 'the failure is logged');
  assert.ok(asked, 'the candidate was sent SIGTERM first (the double logs it and ignores it)');
  assert.equal(stopped?.signal, 'SIGKILL', 'then SIGKILL ended it');
  const graceMs = shutdownTimeoutMs + stopMarginMs;
  assert.ok(Date.parse(String(stopped.time)) - Date.parse(String(failed.time)) >= graceMs, `SIGKILL only after the grace: ${Date.parse(String(stopped.time)) - Date.parse(String(failed.time))} ms < ${graceMs} ms`);
  assert.equal(sup.status().generation, 1, 'the old instance keeps serving');
});

test('a candidate that misses its deadline and honours SIGTERM exits by itself (code 0), no SIGKILL', async (t) => {
  const { sup, lines, states } = await start(t, 300);
  assert.equal((await sup.apply(desired(8080))).result, 'started');
  const stuck = settings({ readiness: { timeoutMs: 1500, minUptimeMs: 300, requireInstrumented: false }, config: { x_test_double: { fault: 'never-ready' } } });
  assert.equal((await sup.apply(desired(8081), stuck)).result, 'failed');
  const pid = candidatePid(states, 2);
  const stopped = await waitFor('the stop line', () => lines.find((l) => l.msg === 'Beyla instance stopped' && l.generation === 2));
  assert.equal(stopped.signal, null);
  assert.equal(stopped.exit_code, 0);
  assert.ok(lines.some((l) => l.msg === 'shutting down' && l.instance_pid === pid));
});
