// Load: many concurrent `coral connect` processes against the running daemon; every file lands, few swaps, every port in the live Beyla.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createDaemonHarness } from './support/daemon-harness.js';

const run = promisify(execFile);
/** 1,000 by default: with the agent running a connect is one request, ~Node's own start-up in CPU (docs/reliability.md). */
const CONNECTS = Number(process.env.LOAD_CONNECTS ?? 1000);
/**
 * How many `coral connect` processes run at once. They are CPU-bound: on 2 cores more at once only
 * lengthens the run queue (and starves the test files running next to this one), so 8, at nice 10.
 */
const CONCURRENCY = Number(process.env.LOAD_CONCURRENCY ?? 8);
const FIRST_PORT = 20_000;
const MAX_WAIT_MS = 30_000;
const DEBOUNCE_MS = 2000;
/**
 * How much later or sooner than its write a file's event can reach the reconciler (chokidar waits
 * for 50 ms of stable size, polling; timers run late on a loaded machine). Generous on purpose: a
 * pause in the writes this much shorter than the debounce is counted as one that may end it.
 */
const EVENT_JITTER_MS = 1000;

/** The bundle the package ships when it was built, else the tsc output. */
const bundled = fileURLToPath(new URL('../bundle/cli/coral.cjs', import.meta.url));
const coralPath = existsSync(bundled) ? bundled : fileURLToPath(new URL('../src/cli/coral.js', import.meta.url));

/** Pauses of at least `minMs` between consecutive writes (file mtimes), as [start offset from the first write, length]. */
function pauses(mtimesMs: number[], minMs: number): Array<[number, number]> {
  const sorted = [...mtimesMs].sort((a, b) => a - b);
  const out: Array<[number, number]> = [];
  for (let i = 1; i < sorted.length; i++) {
    const gap = sorted[i]! - sorted[i - 1]!;
    if (gap >= minMs) out.push([Math.round(sorted[i - 1]! - sorted[0]!), Math.round(gap)]);
  }
  return out;
}

test(`load: ${CONNECTS} concurrent coral connect (${CONCURRENCY} at a time) -> ${CONNECTS} files, few swaps, all ports live`, { timeout: 900_000 }, async (t) => {
  t.diagnostic(`running ${CONNECTS} connects`);
  const h = await createDaemonHarness(t, { debounce: `${DEBOUNCE_MS / 1000}s`, maxWait: `${MAX_WAIT_MS / 1000}s` });
  await h.start();
  const mark = h.mark();
  const startedAt = Date.now();
  let next = 0;
  const failures: string[] = [];
  const worker = async (): Promise<void> => {
    while (next < CONNECTS) {
      const i = next++;
      try {
        await run('nice', ['-n', '10', process.execPath, coralPath, 'connect', `svc-${i}:${FIRST_PORT + i}:none`, '--config', h.configPath], { timeout: 120_000 });
      } catch (error) {
        const e = error as { code?: number; stderr?: string };
        failures.push(`svc-${i}: exit ${e.code}: ${String(e.stderr).trim().slice(0, 300)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
  const connectMs = Date.now() - startedAt;
  assert.deepEqual(failures, [], 'every coral connect succeeded');

  const files = (await readdir(h.servicesDir)).filter((f) => f.endsWith('.yaml'));
  assert.equal(files.length, CONNECTS, 'one file per connect');
  const ports = `${FIRST_PORT}-${FIRST_PORT + CONNECTS - 1}`;
  await h.waitForLivePorts(CONNECTS === 1 ? `${FIRST_PORT}` : ports, 60_000);
  const appliedMs = Date.now() - startedAt;
  const status = await h.status();
  assert.equal(status.applied.ports, ports);
  assert.equal(status.desired.services.length, CONNECTS);

  const swaps = h.swapsSince(mark).length;
  // A stream of changes starts a run either max_wait after the first change the run will carry, or
  // after a pause of a whole debounce: so one swap per max_wait, one after each pause in the writes
  // (a loaded machine does pause every writer at once, and that ended the debounce early: the 12th
  // swap of the flaky run), plus the last.
  const mtimes = await Promise.all(files.map(async (f) => (await stat(join(h.servicesDir, f))).mtimeMs));
  const gaps = pauses(mtimes, DEBOUNCE_MS - EVENT_JITTER_MS);
  const bound = Math.ceil(appliedMs / MAX_WAIT_MS) + 1 + gaps.length;
  t.diagnostic(`${CONNECTS} connects in ${connectMs} ms (${(connectMs / CONNECTS).toFixed(0)} ms each at ${CONCURRENCY} in parallel, nice 10); all ${CONNECTS} ports live ${appliedMs} ms after the first; ${swaps} Beyla swaps (bound ${bound}: ${gaps.length} pauses of >= ${DEBOUNCE_MS - EVENT_JITTER_MS} ms in the writes${gaps.length ? `, at ${gaps.map(([at, ms]) => `+${at} ms for ${ms} ms`).join(', ')}` : ''})`);
  assert.ok(swaps >= 1 && swaps <= bound, `${swaps} swaps for ${CONNECTS} changes over ${appliedMs} ms with ${gaps.length} pauses`);
  await h.stop();
});
