// Beyla's output cannot exhaust the agent: each line is capped (truncated=N), and forwarding into the agent's log is rate-limited with a count of what was dropped.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import client from 'prom-client';
import { BeylaInstance } from '../src/beyla/beyla-instance.js';
import { createBeylaMetrics, outputLimitCounters } from '../src/beyla/create-beyla-metrics.js';
import { DEFAULT_LOG_RATE_LIMIT } from '../src/beyla/log-rate-limit.js';
import { MAX_LINE_BYTES } from '../src/beyla/split-capped-lines.js';
import { captureLogger } from './support/capture-logger.js';
import { metricValue, waitFor } from './support/supervisor-fixtures.js';

/** A stand-in Beyla: a Node script that prints what `body` prints, then waits for SIGTERM. */
async function fakeBeyla(t: TestContext, body: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'coral-output-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'beyla');
  await writeFile(path, `#!${process.execPath}\nprocess.on('SIGTERM', () => process.exit(0));\n${body}\nsetInterval(() => {}, 2 ** 30);\n`);
  await chmod(path, 0o755);
  return path;
}

function start(t: TestContext, binary: string): { instance: BeylaInstance; lines: Record<string, unknown>[]; metric: (name: string) => Promise<number | undefined> } {
  const { logger, lines } = captureLogger();
  const registry = new client.Registry();
  const instance = new BeylaInstance({
    binary, configFile: '/dev/null', generation: 1, ports: { metrics: 1, health: 2, internal: 3 },
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, shutdownTimeoutMs: 1000, logger,
    outputLimits: outputLimitCounters(createBeylaMetrics(registry)),
  });
  t.after(() => instance.kill());
  return { instance, lines, metric: async (name) => metricValue(await registry.metrics(), name) };
}

const STAMP = 'time=2026-11-23T08:25:21.209Z level=INFO msg=';

test('an 8 MiB line is logged as its first 64 KiB with truncated=N, and the next line is whole', async (t) => {
  const long = 8 * 1024 * 1024;
  const binary = await fakeBeyla(t, `
    process.stdout.write('${STAMP}' + 'x'.repeat(${long}) + '\\n');
    process.stdout.write('${STAMP}"after the long line"\\n');
  `);
  const { instance, lines, metric } = start(t, binary);
  await waitFor('the line after the long one', () => lines.some((l) => l.msg === 'after the long line'), 60_000);
  const cut = lines.filter((l) => typeof l.truncated === 'number');
  assert.equal(cut.length, 1, 'the long line is logged once, marked as truncated');
  assert.equal(cut[0]?.truncated, STAMP.length + long - MAX_LINE_BYTES, 'truncated= says exactly how many bytes were cut');
  assert.ok(JSON.stringify(cut[0]).length < MAX_LINE_BYTES + 1024, 'the record stays within the cap');
  assert.equal(await metric('coral_agent_beyla_log_lines_truncated_total'), 1);
  assert.equal(await metric('coral_agent_beyla_log_lines_dropped_total'), 0);
  await instance.stop(5000);
});

test('20,000 lines at once: at most the burst plus the rate are forwarded, the rest counted as dropped, a fatal line among them still seen', async (t) => {
  const flood = 20_000;
  const binary = await fakeBeyla(t, `
    let text = '';
    for (let i = 0; i < ${flood}; i += 1) text += '${STAMP}"flood ' + i + '" component=beyla.Instrumenter\\n';
    process.stdout.write(text);
    process.stdout.write('time=2026-11-23T08:25:22.000Z level=ERROR msg="Unable to load eBPF watcher for process events" component=discover.ProcessWatcher\\n');
  `);
  const startedAt = Date.now();
  const { instance, lines, metric } = start(t, binary);
  const fatal: string[] = [];
  instance.once('fatal', (line) => fatal.push(line));
  await waitFor('the fatal line', () => fatal.length > 0, 60_000);
  assert.match(fatal[0] ?? '', /Unable to load eBPF watcher/);
  await instance.stop(5000);
  const seconds = (Date.now() - startedAt) / 1000;
  const forwarded = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('flood ')).length;
  const bound = DEFAULT_LOG_RATE_LIMIT.burstLines + DEFAULT_LOG_RATE_LIMIT.linesPerSecond * seconds + 1;
  assert.ok(forwarded <= bound, `${forwarded} flood lines forwarded in ${seconds.toFixed(1)} s; the limit allows ${Math.floor(bound)}`);
  const reports = lines.filter((l) => l.msg === 'Beyla log lines dropped: over the forwarding rate limit');
  const dropped = reports.reduce((sum, l) => sum + Number(l.dropped_lines), 0);
  const fatalForwarded = lines.some((l) => l.msg === 'Unable to load eBPF watcher for process events') ? 1 : 0;
  assert.equal(forwarded + dropped + fatalForwarded, flood + 1, 'every line is either forwarded or counted as dropped');
  assert.equal(instance.droppedLines, dropped);
  assert.equal(await metric('coral_agent_beyla_log_lines_dropped_total'), dropped, 'the metric counts every dropped line');
  assert.equal(await metric('coral_agent_beyla_log_lines_truncated_total'), 0);
  t.diagnostic(`forwarded ${forwarded}, dropped ${dropped} in ${seconds.toFixed(2)} s`);
});
