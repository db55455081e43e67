// The agent out of file descriptors (its RLIMIT_NOFILE lowered to what it holds): Beyla is not declared hung, and a drop-in written meanwhile is applied once fds are back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createDaemonHarness, dropIn, waitUntil } from './support/daemon-harness.js';
import { metricValue } from './support/supervisor-fixtures.js';

/** The lowest descriptor number the process does not use: the next one it would get. */
function lowestFreeFd(pid: number): number {
  const used = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
  let fd = 0;
  while (used.has(fd)) fd += 1;
  return fd;
}

/** The soft and hard RLIMIT_NOFILE of a process, from /proc/PID/limits. */
function nofile(pid: number): { soft: string; hard: string } {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line ?? '').replace('Max open files', '').trim().split(/\s+/);
  assert.ok(soft && hard, `no open-files limit in /proc/${pid}/limits`);
  return { soft, hard };
}

const setNofile = (pid: number, soft: string, hard: string): void => {
  execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${soft}:${hard}`]);
};

test('out of file descriptors: liveness probes failing with EMFILE are not held against Beyla, and a drop-in written meanwhile is applied once fds are back', async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'api.yaml': dropIn('api', 3000) } });
  await h.start();
  const before = await h.waitForLivePorts('3000');
  const pid = h.pid;
  const limits = nofile(pid);
  t.after(() => { if (h.running) setNofile(pid, limits.soft, limits.hard); });

  // From now on the agent cannot open one more descriptor: the soft limit is kept at the next free
  // number (a descriptor it closes would otherwise leave a hole it could reuse), so every socket,
  // file or pipe it asks for fails with EMFILE.
  const mark = h.mark();
  let pinning = true;
  const pin = (async () => {
    while (pinning) {
      setNofile(pid, String(lowestFreeFd(pid)), limits.hard);
      // How often the limit is re-pinned while the agent runs out of descriptors (the fault under test), not a wait for an event.
      await new Promise((resolvePause) => setTimeout(resolvePause, 20));
    }
  })();
  try {
    await h.writeDropIn('web.yaml', dropIn('web', 3001));
    const emfile = (r: Record<string, unknown>): boolean => /EMFILE/.test(String(r.error ?? '')) || r.reason === 'emfile';
    // Three probes (5 s apart) without a descriptor: enough for a hung verdict if they counted against Beyla.
    const emfileProbes = (): number => h.logs.slice(mark).filter((r) => /liveness probe/.test(r.msg) && emfile(r)).length;
    await waitUntil('three liveness probes with EMFILE', () => emfileProbes() >= 3, 30_000);
  } finally {
    pinning = false;
    await pin;
  }
  const exhaustedFor = Date.now();
  setNofile(pid, limits.soft, limits.hard);

  const after = await h.waitForLivePorts('3000-3001', 20_000);
  t.diagnostic(`drop-in written while out of fds applied ${Date.now() - exhaustedFor} ms after the fds came back`);
  const text = await h.scrape();
  assert.equal(metricValue(text, 'beyla_restarts_total{reason="unresponsive"}'), 0, 'Beyla was not declared hung');
  assert.ok((metricValue(text, 'coral_agent_beyla_liveness_own_faults_total{reason="emfile"}') ?? 0) >= 3, 'the EMFILE probes are counted apart');
  assert.equal(h.logs.slice(mark).some((r) => /active Beyla is unresponsive/.test(r.msg)), false);
  assert.notEqual(after?.pid, undefined);
  assert.ok(before);
  await h.stop();
});
