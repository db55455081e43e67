// The scrape address: agent + Beyla metrics in one response, resilient to Beyla failing or switching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoralError } from '../src/errors.js';
import {
  createAgentMetrics,
  createRegistry,
  mergeExposition,
  parseListen,
  startMetricsServer,
  type MetricsServer,
} from '../src/metrics/index.js';
import { captureLogger } from './support/capture-logger.js';

async function scrape(server: MetricsServer, path = '/metrics'): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${server.address.port}${path}`);
  return { status: res.status, text: await res.text() };
}

const beylaText = (n: number): string =>
  `# HELP beyla_http_requests_total Requests.\n# TYPE beyla_http_requests_total counter\nbeyla_http_requests_total{service="api"} ${n}\n`;

test('GET /metrics serves the agent registry followed by the current Beyla text', async (t) => {
  const registry = createRegistry();
  const metrics = createAgentMetrics(registry);
  metrics.recordReload('success', new Date(1_700_000_000_000));
  metrics.generation.set(7);
  let calls = 0;
  const { logger } = captureLogger();
  const server = await startMetricsServer({
    listen: '127.0.0.1:0', registry, logger,
    scrapeExtra: async () => beylaText(++calls),
  });
  t.after(() => server.close());

  const first = await scrape(server);
  assert.equal(first.status, 200);
  assert.match(first.text, /^coral_agent_reloads_total\{result="success"\} 1$/m);
  assert.match(first.text, /^coral_agent_reloads_total\{result="invalid"\} 0$/m);
  assert.match(first.text, /^coral_agent_last_successful_reload_timestamp_seconds 1700000000$/m);
  assert.match(first.text, /^coral_agent_generation 7$/m);
  assert.match(first.text, /^coral_agent_process_cpu_user_seconds_total /m, 'process metrics carry the agent prefix');
  assert.match(first.text, /^beyla_http_requests_total\{service="api"\} 1$/m);
  assert.ok(first.text.indexOf('coral_agent_generation') < first.text.indexOf('beyla_http_requests_total'));

  const second = await scrape(server);
  assert.match(second.text, /^beyla_http_requests_total\{service="api"\} 2$/m, 'each scrape fetches Beyla afresh');

  const health = await scrape(server, '/healthz');
  assert.deepEqual(health, { status: 200, text: 'ok' });
  assert.equal((await scrape(server, '/nope')).status, 404);
});

test('a failing or hanging Beyla scrape still serves the agent metrics and is counted', async (t) => {
  const registry = createRegistry();
  createAgentMetrics(registry);
  const { logger, lines } = captureLogger();
  let mode: 'throw' | 'hang' | 'null' = 'throw';
  const server = await startMetricsServer({
    listen: '127.0.0.1:0', registry, logger, scrapeExtraTimeoutMs: 200,
    scrapeExtra: (signal) => {
      if (mode === 'throw') return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:9400'));
      if (mode === 'null') return Promise.resolve(null);
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    },
  });
  t.after(() => server.close());

  const failed = await scrape(server);
  assert.equal(failed.status, 200);
  assert.match(failed.text, /^coral_agent_generation 0$/m);
  assert.match(failed.text, /^coral_agent_beyla_scrape_errors_total 1$/m);
  assert.ok(lines.some((l) => l.level === 20 && String(l.msg).includes('beyla metrics unavailable')));

  mode = 'hang';
  const hung = await scrape(server);
  assert.equal(hung.status, 200);
  assert.match(hung.text, /^coral_agent_beyla_scrape_errors_total 2$/m);

  mode = 'null';
  const none = await scrape(server);
  assert.equal(none.status, 200);
  assert.match(none.text, /^coral_agent_beyla_scrape_errors_total 2$/m, 'no Beyla running is not an error');
  assert.doesNotMatch(none.text, /beyla_http/);
});

test('200 scrapes while the active instance alternates: each response has exactly one instance', async (t) => {
  const registry = createRegistry();
  createAgentMetrics(registry);
  const { logger } = captureLogger();
  const instanceText = (id: 'A' | 'B'): string =>
    `# HELP beyla_instance_info Which instance.\n# TYPE beyla_instance_info gauge\nbeyla_instance_info{instance="${id}"} 1\n` +
    `# HELP beyla_instrumented_processes Processes.\n# TYPE beyla_instrumented_processes gauge\nbeyla_instrumented_processes{instance="${id}"} 3\n`;
  let calls = 0;
  const server = await startMetricsServer({
    listen: '127.0.0.1:0', registry, logger,
    scrapeExtra: async () => {
      const id = calls++ % 2 === 0 ? 'A' : 'B';
      await new Promise((resolve) => setImmediate(resolve));
      return instanceText(id);
    },
  });
  t.after(() => server.close());

  const seen = { A: 0, B: 0 };
  for (let batch = 0; batch < 20; batch++) {
    const responses = await Promise.all(Array.from({ length: 10 }, () => scrape(server)));
    for (const { status, text } of responses) {
      assert.equal(status, 200);
      const hasA = text.includes(instanceText('A'));
      const hasB = text.includes(instanceText('B'));
      assert.ok(hasA !== hasB, `exactly one instance per response (A=${hasA} B=${hasB})`);
      assert.equal(text.match(/^# TYPE beyla_instance_info /gm)?.length, 1);
      seen[hasA ? 'A' : 'B']++;
    }
  }
  assert.equal(seen.A + seen.B, 200);
  assert.ok(seen.A > 0 && seen.B > 0, 'both instances were served');
});

test('families the agent already defines are dropped from the Beyla part, logged once', async (t) => {
  const registry = createRegistry();
  createAgentMetrics(registry);
  const { logger, lines } = captureLogger();
  const extra =
    '# HELP coral_agent_generation Clash.\n# TYPE coral_agent_generation gauge\ncoral_agent_generation 99\n' +
    beylaText(5);
  const server = await startMetricsServer({ listen: '127.0.0.1:0', registry, logger, scrapeExtra: async () => extra });
  t.after(() => server.close());

  for (let i = 0; i < 2; i++) {
    const { text } = await scrape(server);
    assert.equal(text.match(/^# TYPE coral_agent_generation /gm)?.length, 1);
    assert.equal(text.match(/^# HELP coral_agent_generation /gm)?.length, 1);
    assert.doesNotMatch(text, /^coral_agent_generation 99$/m);
    assert.match(text, /^beyla_http_requests_total\{service="api"\} 5$/m);
  }
  const warnings = lines.filter((l) => l.level === 40 && String(l.msg).includes('left out'));
  assert.equal(warnings.length, 1);
  assert.deepEqual(warnings[0]?.families, ['coral_agent_generation']);
});

test('mergeExposition drops a whole histogram family, buckets included', () => {
  const agent = '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 0\nh_sum 0\nh_count 0\n';
  const extra = '# HELP h Other.\n# TYPE h histogram\nh_bucket{le="+Inf"} 4\nh_sum 2\nh_count 4\nh_other_thing 1\n' +
    '# TYPE up gauge\nup 1\nh_count 9\n';
  const merged = mergeExposition(agent, extra);
  assert.equal(merged.text, `${agent}# TYPE up gauge\nup 1\n`);
  assert.deepEqual(merged.dropped, ['h']);
  assert.deepEqual(mergeExposition('a 1', null), { text: 'a 1\n', dropped: [] });
});

test('a listen address already in use fails with CANT_CREATE (exit 73) naming the setting', async (t) => {
  const registry = createRegistry();
  const { logger } = captureLogger();
  const first = await startMetricsServer({ listen: '127.0.0.1:0', registry, logger, scrapeExtra: async () => null });
  t.after(() => first.close());
  const listen = `127.0.0.1:${first.address.port}`;
  await assert.rejects(
    startMetricsServer({ listen, registry: createRegistry(), logger, scrapeExtra: async () => null }),
    (error: unknown) => {
      assert.ok(error instanceof CoralError);
      assert.equal(error.code, 'CANT_CREATE');
      assert.equal(error.exitCode, 73);
      assert.equal(error.message, `cannot listen on ${listen}: address in use`);
      assert.match(error.hint ?? '', /agent\.metrics\.listen/);
      return true;
    },
  );
});

test('parseListen accepts host:port, [v6]:port and :port, and rejects the rest', () => {
  assert.deepEqual(parseListen('127.0.0.1:9400'), { host: '127.0.0.1', port: 9400 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseListen(':9400'), { host: undefined, port: 9400 });
  assert.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 });
  for (const bad of ['9400', '127.0.0.1:', '::1:9400', 'host:70000', 'host:x']) {
    assert.throws(() => parseListen(bad), (e: unknown) => e instanceof CoralError && e.code === 'INVALID_CONFIG', bad);
  }
});
