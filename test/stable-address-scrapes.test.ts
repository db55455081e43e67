// Scrapes of the stable address share one request to the active Beyla: 1,000 at once all carry its series, and it sees a few requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { DEFAULT_TIMING } from '../src/lifecycle/timing.js';
import { createDaemonHarness, dropIn } from './support/daemon-harness.js';
import { metricValue } from './support/supervisor-fixtures.js';

const SCRAPES = 1000;

/** One GET on its own connection (no pooling: the scrapes are truly concurrent). */
function scrapeOnce(port: number): Promise<{ status: number; text: string }> {
  return new Promise((resolveScrape, reject) => {
    const request = get({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: 60_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolveScrape({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('no answer within 60 s')));
    request.on('error', reject);
  });
}

async function exportRequests(internalPort: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${internalPort}/internal/metrics`);
  const value = metricValue(await response.text(), 'beyla_double_export_requests_total');
  assert.ok(value !== undefined, 'the double counts its export requests');
  return value;
}

test(`${SCRAPES} concurrent scrapes of the stable address all carry Beyla's series; Beyla sees a handful of requests`, async (t) => {
  const h = await createDaemonHarness(t, { dropIns: { 'api.yaml': dropIn('api', 3000) } });
  await h.start();
  const live = await h.waitForLivePorts('3000');
  const status = await h.status();
  const active = status.beyla.instances.find((i: { role: string }) => i.role === 'active');
  assert.ok(active, 'an active instance');
  const before = await exportRequests(active.ports.internal);

  const startedAt = performance.now();
  const results = await Promise.allSettled(Array.from({ length: SCRAPES }, () => scrapeOnce(h.metrics!.port)));
  const elapsedMs = performance.now() - startedAt;
  const failed = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
  assert.deepEqual(failed.slice(0, 3), [], `${failed.length} scrapes failed`);
  const answers = results.map((r) => (r as PromiseFulfilledResult<{ status: number; text: string }>).value);
  const withoutBeyla = answers.filter((a) => a.status !== 200 || !a.text.includes(`beyla_double_info{`) || !a.text.includes(`pid="${live!.pid}"`));
  const requests = (await exportRequests(active.ports.internal)) - before;
  const errors = metricValue(await h.scrape(), 'coral_agent_beyla_scrape_errors_total');
  t.diagnostic(`${SCRAPES} scrapes in ${Math.round(elapsedMs)} ms: ${withoutBeyla.length} without Beyla's series, ${requests} requests reached Beyla, scrape errors ${errors}`);
  assert.equal(withoutBeyla.length, 0, `${withoutBeyla.length} of ${SCRAPES} answers lack the active Beyla's series`);
  assert.equal(errors, 0);
  // A fetch starts only once the one in flight is done and the last one started a reuse window ago,
  // so however long a loaded machine makes the scrapes take, the requests follow that time, not their number.
  const bound = Math.floor(elapsedMs / DEFAULT_TIMING.scrapeReuseMs) + 2;
  assert.ok(requests >= 1 && requests <= bound, `${requests} requests reached Beyla for ${SCRAPES} scrapes in ${Math.round(elapsedMs)} ms (at most ${bound})`);
  await h.stop();
});
