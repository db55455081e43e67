// The real-Prometheus test helper: it scrapes a target, answers queries, reports bad queries and leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { isAlive } from './support/daemon-harness.js';
import { prometheusMissing, startPrometheus, type PromSeries } from './support/prometheus-server.js';

test('startPrometheus scrapes a target every second, queries it, and stop() reaps it', async (t) => {
  const missing = prometheusMissing();
  if (missing) return t.skip(missing);
  let hits = 0;
  const target = createServer((req, res) => {
    hits += 1;
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(`# TYPE demo_hits_total counter\ndemo_hits_total ${hits}\n`);
  });
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  t.after(() => target.close());
  const port = (target.address() as AddressInfo).port;

  const prom = await startPrometheus(t, { targets: [`127.0.0.1:${port}`] });
  await prom.waitForScrapes(3);
  const up = (await prom.query('up{job="coral-agent"}')).result as PromSeries[];
  assert.equal(up.length, 1);
  assert.equal(up[0]!.metric.instance, `127.0.0.1:${port}`);
  assert.equal(up[0]!.value![1], '1');
  const latest = Number(((await prom.query('demo_hits_total')).result as PromSeries[])[0]!.value![1]);
  assert.ok(latest >= 3 && latest <= hits, `the scraped value ${latest} is one the target served (served ${hits})`);

  const now = Date.now() / 1000;
  const range = (await prom.queryRange('demo_hits_total', now - 60, now, 1)).result as PromSeries[];
  assert.ok(range[0]!.values!.length >= 3);

  await assert.rejects(prom.query('rate(demo_hits_total[5s]'), /bad_data.*parse error/);

  assert.equal(isAlive(prom.pid), true);
  await prom.stop();
  assert.equal(existsSync(prom.dataDir), false, 'the temp data dir is removed');
  await assert.rejects(fetch(`${prom.url}/-/ready`), 'nothing listens any more');
  assert.equal(isAlive(prom.pid), false, 'the process is gone');
});
