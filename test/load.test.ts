// Load: many concurrent `coral connect` processes against the running daemon; every file lands, few swaps, every port in the live Beyla.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createDaemonHarness } from './support/daemon-harness.js';

const run = promisify(execFile);
const FULL = process.env.CORAL_FULL_LOAD === '1';
/** The issue asks for 1,000; each `coral connect` costs ~0.3-0.5 s of CPU, so CI runs 300 unless CORAL_FULL_LOAD=1. */
const CONNECTS = Number(process.env.LOAD_CONNECTS ?? (FULL ? 1000 : 300));
/**
 * How many `coral connect` processes run at once. They are CPU-bound: on 2 cores more at once only
 * lengthens the run queue (and starves the test files running next to this one), so 8, at nice 10.
 */
const CONCURRENCY = Number(process.env.LOAD_CONCURRENCY ?? 8);
const FIRST_PORT = 20_000;
const MAX_WAIT_MS = 30_000;

const coralPath = fileURLToPath(new URL('../src/cli/coral.js', import.meta.url));

test(`load: ${CONNECTS} concurrent coral connect (${CONCURRENCY} at a time) -> ${CONNECTS} files, few swaps, all ports live`, { timeout: 900_000 }, async (t) => {
  t.diagnostic(FULL || process.env.LOAD_CONNECTS
    ? `running ${CONNECTS} connects`
    : `running ${CONNECTS} connects (the issue's 1,000 run with CORAL_FULL_LOAD=1; they take minutes on 2 cores)`);
  const h = await createDaemonHarness(t, { debounce: '2s', maxWait: `${MAX_WAIT_MS / 1000}s` });
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
  // max_wait bounds how often a stream of changes can swap Beyla: one per max_wait, plus the last.
  const bound = Math.ceil(appliedMs / MAX_WAIT_MS) + 1;
  t.diagnostic(`${CONNECTS} connects in ${connectMs} ms (${(connectMs / CONNECTS).toFixed(0)} ms each at ${CONCURRENCY} in parallel, nice 10); all ${CONNECTS} ports live ${appliedMs} ms after the first; ${swaps} Beyla swaps (bound ${bound})`);
  assert.ok(swaps >= 1 && swaps <= bound, `${swaps} swaps for ${CONNECTS} changes over ${appliedMs} ms`);
  if (!FULL) assert.ok(swaps <= 10, `${swaps} swaps`);
  await h.stop();
});
