// An agent SIGKILLed while its Beyla keeps logging: the Beyla survives (its output is on FIFOs it holds open), and the next agent adopts it and reads what it prints.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDaemonHarness, isAlive, waitUntil, type DaemonHarness, type LiveInstance, type LogRecord } from './support/daemon-harness.js';
import { startListeningProcess, type ListeningProcess } from './support/listening-process.js';

/** About 200 bytes each: several times a pipe's 64 KiB, written while no agent runs. */
const BURST_LINES = 1000;

const adoptedLog = (r: LogRecord): boolean => /Beyla generation adopted from a previous agent/.test(r.msg);

/** The harness's agent with one service on `listener`'s port; `fault` goes to the first Beyla only (the double's fault file). */
async function agent(t: TestContext, listener: ListeningProcess, fault: (dir: string) => string): Promise<DaemonHarness> {
  const h = await createDaemonHarness(t, { debounce: '50ms', fastDiscovery: true });
  const faultFile = join(h.dir, 'fault');
  h.env.FAKE_BEYLA_FAULT_FILE = faultFile;
  await writeFile(faultFile, fault(h.dir));
  await h.writeDropIn('s0.yaml', `name: s0\nport: ${listener.ports[0]}\nhealth: none\n`);
  return h;
}

/** Starts the agent, waits for its Beyla to instrument `listener`, SIGKILLs the agent; resolves with the Beyla it left. */
async function killAgentWithBeyla(h: DaemonHarness, listener: ListeningProcess): Promise<LiveInstance> {
  await h.start();
  const first = await h.waitForLivePorts(String(listener.ports[0]));
  assert.ok(first);
  await h.waitForLog('the listener instrumented', (r) => r.msg === 'instrumenting process' && Number(r.beyla_pid) === listener.pid && r.instance_pid === first.pid);
  h.signal('SIGKILL');
  assert.equal((await h.waitForExit()).signal, 'SIGKILL');
  return first;
}

test('agent SIGKILLed, its Beyla logs 200 KB with no agent: still alive, adopted, its backlog read, and a listener started after the adoption shows as instrumented by it', async (t) => {
  const api = await startListeningProcess(t);
  const port = api.ports[0]!;
  const h = await agent(t, api, (dir) => `log-burst-on=${join(dir, 'burst')}:${BURST_LINES}`);
  const first = await killAgentWithBeyla(h, api);
  await writeFile(join(h.dir, 'burst'), '');
  // The double deletes the trigger once it has written every line (into the FIFO, then its own buffer).
  await waitUntil('the Beyla double to write its burst', () => !existsSync(join(h.dir, 'burst')));
  const mark = h.mark();
  const restartedAt = Date.now();
  await h.start();
  await h.waitForLog('the adoption', adoptedLog, { fromIndex: mark, deadlineMs: 20_000 });
  t.diagnostic(`restart to adoption: ${Date.now() - restartedAt} ms`);
  assert.ok(isAlive(first.pid), 'the Beyla that logged with no agent running is alive');
  const status = await h.status();
  const active = status.beyla.instances.find((i: { role: string }) => i.role === 'active');
  assert.deepEqual({ pid: active?.pid, adopted: active?.adopted, generation: active?.generation }, { pid: first.pid, adopted: true, generation: 1 });
  // What it printed while no agent ran is read by the new one.
  await h.waitForLog('the last line of the burst', (r) => r.msg === 'beyla-double log burst' && r.n === String(BURST_LINES) && r.instance_pid === first.pid, { fromIndex: mark });
  // A new process on the service's port, after the adoption: the adopted Beyla's line about it is read.
  await api.stop();
  const restarted = await startListeningProcess(t, 1, [port]);
  const line = await h.waitForLog('the new listener instrumented by the adopted Beyla', (r) => r.msg === 'instrumenting process' && Number(r.beyla_pid) === restarted.pid, { fromIndex: mark });
  assert.deepEqual({ instance: line.instance_pid, generation: line.generation, adopted: line.adopted }, { instance: first.pid, generation: 1, adopted: true });
  const service = await waitUntil('status to show the new listener instrumented', async () => {
    const s = (await h.status()).beyla.services.find((x: { service: string }) => x.service === 's0');
    return s?.instrumentedPids.includes(restarted.pid) ? s : undefined;
  });
  assert.deepEqual(service, { service: 's0', generation: 1, pids: [restarted.pid], instrumentedPids: [restarted.pid], listeners: [{ pid: restarted.pid, ports: [port] }] });
  await h.stop();
  assert.equal(isAlive(first.pid), false);
});

test('agent SIGKILLed, then its adopted Beyla logs a fatal line: the new agent sees it and replaces that Beyla', async (t) => {
  const api = await startListeningProcess(t);
  const fatal = (dir: string): string => join(dir, 'fatal');
  const h = await agent(t, api, (dir) => `fatal-log-on=${fatal(dir)}`);
  const first = await killAgentWithBeyla(h, api);
  const mark = h.mark();
  await h.start();
  await h.waitForLog('the adoption', adoptedLog, { fromIndex: mark, deadlineMs: 20_000 });
  const adopted = h.mark();
  await writeFile(fatal(h.dir), '');
  const seen = await h.waitForLog('the fatal line seen', (r) => r.msg === 'active Beyla logged a fatal line: replacing it', { fromIndex: adopted });
  assert.equal(seen.generation, 1);
  assert.match(String(seen.beyla_error), /Unable to load eBPF watcher/);
  const next = await waitUntil('one live Beyla, not the adopted one', async () => {
    const live = await h.liveInstances();
    return live.length === 1 && live[0]!.pid !== first.pid ? live[0] : undefined;
  }, 20_000);
  assert.equal(next.ports, String(api.ports[0]), 'the new Beyla runs the same config');
  await h.stop();
});
