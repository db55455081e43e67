// Chaos against the running daemon and the Beyla double: kill, stop and wedge Beyla, break the runtime and config dirs, kill the agent; no valid port may be dropped.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createDaemonHarness, dropIn, isAlive, isSwapLog, waitUntil, type DaemonHarness, type LiveInstance } from './support/daemon-harness.js';

const run = promisify(execFile);
const PORTS = '3000,8080-8082';
const FILES = { 'a.yaml': dropIn('a', 3000), 'b.yaml': 'name: b\nports: ["8080-8082"]\nhealth: none\n' };

/** "3000,8080-8082" -> {3000, 8080, 8081, 8082}. */
function portSet(text: string): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [from, to = from] = part.split('-').map(Number);
    for (let port = from!; port <= to!; port += 1) out.add(port);
  }
  return out;
}

interface Sample {
  at: number;
  instances: LiveInstance[];
  covered: boolean;
}

/** Polls the live Beyla doubles every ~75 ms in the background and records whether their union covers `ports`. */
class CoverageSampler {
  readonly samples: Sample[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(private readonly h: DaemonHarness, private readonly ports: string) {
    this.loop = this.poll();
  }

  private async poll(): Promise<void> {
    const want = portSet(this.ports);
    while (this.running) {
      const instances = await this.h.liveInstances();
      const union = new Set(instances.flatMap((i) => [...portSet(i.ports)]));
      this.samples.push({ at: Date.now(), instances, covered: [...want].every((p) => union.has(p)) });
      await delay(75);
    }
  }

  async stop(): Promise<Sample[]> {
    this.running = false;
    await this.loop;
    return this.samples;
  }

  /** Samples after the first covering one that did not cover, outside [allowFrom, allowTo]. */
  gaps(allow?: { from: number; to: number }): Sample[] {
    const first = this.samples.findIndex((s) => s.covered);
    assert.ok(first >= 0, 'the ports were never covered');
    return this.samples.slice(first).filter((s) => !s.covered && !(allow && s.at >= allow.from && s.at <= allow.to));
  }
}

function metricValue(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  assert.ok(line, `no sample ${sample} in the scrape`);
  return Number(line.slice(sample.length + 1));
}

async function started(t: TestContext, opts: { env?: Record<string, string> } = {}): Promise<{ h: DaemonHarness; first: LiveInstance }> {
  const h = await createDaemonHarness(t, { dropIns: FILES, ...(opts.env ? { env: opts.env } : {}) });
  await h.start();
  const first = await h.waitForLivePorts(PORTS);
  assert.ok(first);
  return { h, first };
}

/** SIGCONT then SIGKILL a pid if it is still there (t.after: nothing is left stopped). */
function release(pid: number): void {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGCONT');
    process.kill(pid, 'SIGKILL');
  } catch { /* gone meanwhile */ }
}

describe('chaos: Beyla processes', () => {
  test('SIGKILL of the only Beyla: restarted on the same ports within 10 s, counted as a crash', async (t) => {
    const { h, first } = await started(t);
    const crashesBefore = metricValue(await h.scrape(), 'beyla_restarts_total{reason="crash"}');
    const sampler = new CoverageSampler(h, PORTS);
    await waitUntil('a covering sample', () => sampler.samples.some((s) => s.covered));
    const killedAt = Date.now();
    process.kill(first.pid, 'SIGKILL');
    const back = await waitUntil('a new Beyla with the same ports', async () => {
      const live = await h.liveInstances();
      return live.length === 1 && live[0]!.pid !== first.pid && live[0]!.ports === PORTS ? live[0] : undefined;
    }, 10_000);
    const restoredAt = Date.now();
    await delay(300); // a few more samples after the restore
    await sampler.stop();
    assert.notEqual(back.pid, first.pid);
    // The one allowed gap: from the kill until the replacement is up. Everything else covered.
    assert.deepEqual(sampler.gaps({ from: killedAt, to: restoredAt }), []);
    const uncovered = sampler.samples.filter((s) => !s.covered && s.at >= killedAt);
    const gapMs = uncovered.length ? uncovered.at(-1)!.at - killedAt : 0;
    t.diagnostic(`SIGKILL gap: ports uncovered for about ${gapMs} ms (restore seen ${restoredAt - killedAt} ms after the kill)`);
    assert.ok(restoredAt - killedAt < 10_000);
    const scrape = await h.scrape();
    assert.equal(metricValue(scrape, 'beyla_restarts_total{reason="crash"}'), crashesBefore + 1);
    assert.ok(h.logs.some((r) => r.level === 50 && /active Beyla killed by SIGKILL/.test(r.msg)), 'the crash is logged as an error');
    await h.stop();
  });

  test('SIGSTOP of the active Beyla: the liveness check replaces it without a port gap and kills the stopped one', async (t) => {
    const { h, first } = await started(t);
    t.after(() => release(first.pid));
    const sampler = new CoverageSampler(h, PORTS);
    await waitUntil('a covering sample', () => sampler.samples.some((s) => s.covered));
    const stoppedAt = Date.now();
    process.kill(first.pid, 'SIGSTOP');
    // Default liveness: a probe every 5 s, 1 s deadline, 3 failures: about 15-18 s to decide.
    const report = await h.waitForLog('the hang reported', (r) => r.level === 50 && /active Beyla is unresponsive/.test(r.msg), { deadlineMs: 30_000 });
    await waitUntil('the stopped Beyla to be killed', () => !isAlive(first.pid), 10_000);
    const replacedAt = Date.now();
    const now = await h.waitForLivePorts(PORTS, 5000);
    await delay(300);
    await sampler.stop();
    assert.notEqual(now?.pid, first.pid);
    assert.deepEqual(sampler.gaps(), [], 'no sample without every port: the new Beyla was ready before the hung one was killed');
    assert.match(String(report.reason), /did not answer 3 probes in a row/);
    const stopped = await h.waitForLog('the hung Beyla reported stopped', (r) => r.msg === 'Beyla instance stopped' && r.pid === first.pid);
    assert.equal(stopped.signal, 'SIGKILL');
    assert.equal(metricValue(await h.scrape(), 'beyla_restarts_total{reason="unresponsive"}'), 1);
    t.diagnostic(`SIGSTOP: hung Beyla replaced and killed ${replacedAt - stoppedAt} ms after the stop`);
    assert.ok(replacedAt - stoppedAt < 30_000);
    await h.stop();
  });

  test('a Beyla that ignores SIGTERM is SIGKILLed after shutdown_timeout plus the margin when swapped out', async (t) => {
    const faultDir = await mkdtemp(join(tmpdir(), 'coral-chaos-fault-'));
    t.after(() => rm(faultDir, { recursive: true, force: true }));
    const faultFile = join(faultDir, 'fault');
    const { h } = await started(t, { env: { FAKE_BEYLA_FAULT_FILE: faultFile } });
    await writeFile(faultFile, 'hang-on-term'); // only the next instance takes it
    const sampler = new CoverageSampler(h, '3000');
    let mark = h.mark();
    await h.writeDropIn('b.yaml', dropIn('b', 8090));
    await h.waitForReconcile('swap 1', { fromIndex: mark, match: (r) => r.result === 'swapped' });
    const stubborn = await h.waitForLivePorts('3000,8090');
    assert.ok(stubborn);
    mark = h.mark();
    await h.writeDropIn('b.yaml', dropIn('b', 8091));
    await h.waitForLog('swap 2 promoted', (r) => r.msg === 'Beyla generation promoted' && r.open_ports === '3000,8091', { fromIndex: mark });
    const swappedAt = Date.now();
    await delay(1000);
    assert.ok(isAlive(stubborn.pid), 'it ignored SIGTERM');
    await waitUntil('the stubborn Beyla to be killed', () => !isAlive(stubborn.pid), 15_000);
    const killedAfterMs = Date.now() - swappedAt;
    await h.waitForReconcile('swap 2', { fromIndex: mark, match: (r) => r.result === 'swapped' });
    await h.waitForLivePorts('3000,8091');
    await sampler.stop();
    const stopped = h.logs.find((r) => r.msg === 'Beyla instance stopped' && r.pid === stubborn.pid);
    assert.equal(stopped?.signal, 'SIGKILL');
    assert.ok(h.logs.some((r) => r.msg === 'Beyla did not exit after SIGTERM: sending SIGKILL' && r.grace_ms === 4000), 'grace = shutdown_timeout 2 s + margin 2 s');
    // SIGKILL comes no sooner than the grace (shutdown_timeout 2 s + margin 2 s) and not much later.
    assert.ok(killedAfterMs >= 3000 && killedAfterMs < 10_000, `killed ${killedAfterMs} ms after the swap`);
    assert.deepEqual(sampler.gaps(), []);
    t.diagnostic(`hang-on-term: SIGKILLed ${killedAfterMs} ms after the swap that replaced it (grace 4000 ms)`);
    await h.stop();
  });
});

async function chattrWorks(): Promise<string | null> {
  const dir = await mkdtemp(join(tmpdir(), 'coral-chattr-'));
  try {
    await run('chattr', ['+i', dir]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    return `chattr +i does not work here (${(error as Error).message.split('\n')[0]})`;
  }
  let blocked = false;
  try {
    await writeFile(join(dir, 'probe'), 'x');
  } catch {
    blocked = true;
  }
  await run('chattr', ['-i', dir]);
  await rm(dir, { recursive: true, force: true });
  return blocked ? null : 'chattr +i did not stop a write (not root, or the filesystem ignores it)';
}

describe('chaos: directories', () => {
  test('a read-only runtime dir: the change fails and says why, the old Beyla keeps its ports, a later change applies', async (t) => {
    const why = await chattrWorks();
    if (why) {
      t.skip(why);
      return;
    }
    const { h, first } = await started(t);
    await run('chattr', ['+i', h.runtimeDir]);
    t.after(() => run('chattr', ['-i', h.runtimeDir]).then(() => undefined, () => undefined));
    const sampler = new CoverageSampler(h, PORTS);
    const mark = h.mark();
    await h.writeDropIn('c.yaml', dropIn('c', 9000));
    const failed = await h.waitForReconcile('the failed change', { fromIndex: mark, match: (r) => r.result === 'failed' });
    assert.match(failed.msg, /cannot write Beyla config/);
    const status = await h.status();
    assert.equal(status.lastReconcile.ok, false);
    assert.equal(status.lastReconcile.result, 'failed');
    assert.match(status.lastReconcile.message, /cannot write Beyla config .*beyla-\d+\.yaml/);
    assert.match(String(status.beyla.reason), /cannot write Beyla config/);
    assert.equal(status.applied.ports, PORTS, 'the old instance is still the applied one');
    const live = await h.liveInstances();
    assert.deepEqual(live, [first], 'the old Beyla keeps serving the old ports');

    await run('chattr', ['-i', h.runtimeDir]);
    await h.writeDropIn('c.yaml', dropIn('c', 9001));
    await h.waitForLivePorts('3000,8080-8082,9001', 15_000);
    await sampler.stop();
    assert.deepEqual(sampler.gaps(), []);
    await h.stop();
  });

  test('services.d deleted and at once recreated with the same files: the ports are kept, later edits apply', async (t) => {
    const { h, first } = await started(t);
    const sampler = new CoverageSampler(h, PORTS);
    await waitUntil('a covering sample', () => sampler.samples.some((s) => s.covered));
    await rm(h.servicesDir, { recursive: true });
    await mkdir(h.servicesDir);
    for (const [name, text] of Object.entries(FILES)) await h.writeDropIn(name, text);
    // Let the debounce and any resync pass, then prove the new directory is watched.
    const mark = h.mark();
    await h.writeDropIn('c.yaml', dropIn('c', 9100));
    await h.waitForLivePorts('3000,8080-8082,9100', 15_000);
    await sampler.stop();
    assert.deepEqual(sampler.gaps(), [], 'no sample without the configured ports');
    await h.waitForLog('the swap for the new drop-in', isSwapLog, { fromIndex: mark });
    assert.ok(!(await h.liveInstances()).some((i) => i.pid === first.pid));
    await h.stop();
  });
});

describe('chaos: the agent itself', () => {
  test('agent SIGKILLed outside systemd: the next agent adopts the Beyla it left (same config) and serves the same ports', async (t) => {
    const { h, first } = await started(t);
    h.signal('SIGKILL');
    const exit = await h.waitForExit();
    assert.equal(exit.signal, 'SIGKILL');
    assert.ok(isAlive(first.pid), 'the Beyla child outlived its agent (an orphan)');
    const mark = h.mark();
    await h.start();
    await h.waitForLog('the adoption', (r) => /adopted from a previous agent/.test(r.msg) && r.pid === first.pid, { fromIndex: mark });
    const now = await h.waitForLivePorts(PORTS);
    assert.equal(now?.pid, first.pid, 'the same Beyla serves: nothing was restarted');
    await h.stop(); // asserts that no Beyla double from either run is alive
    assert.equal(isAlive(first.pid), false);
  });
});
