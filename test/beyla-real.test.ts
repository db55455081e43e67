// Against a real `beyla` binary (BEYLA_BIN or on PATH): the rendered config is accepted, /healthz answers, SIGTERM is clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import client from 'prom-client';
import { CoralError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import type { BeylaSettings } from '../src/config/types.js';
import { BeylaSupervisor } from '../src/beyla/supervisor.js';
import { findBeylaBinary } from '../src/beyla/find-beyla-binary.js';
import { fetchText } from '../src/beyla/fetch-text.js';

async function realBeyla(): Promise<string | undefined> {
  try {
    return await findBeylaBinary(process.env.BEYLA_BIN ?? 'beyla');
  } catch (error) {
    if (error instanceof CoralError && error.code === 'BEYLA_UNAVAILABLE') return undefined;
    throw error;
  }
}

test('a real Beyla accepts the rendered config, answers /healthz and exits cleanly on SIGTERM', { timeout: 120_000 }, async (t) => {
  const binary = await realBeyla();
  if (!binary) {
    t.skip('no beyla binary: set BEYLA_BIN or put beyla on PATH');
    return;
  }
  if (process.getuid?.() !== 0) {
    t.skip(`beyla found at ${binary}, but it needs root or CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN...: run this test as root`);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'coral-real-beyla-'));
  const service = createServer(() => {});
  await new Promise<void>((resolveListen) => service.listen(0, '127.0.0.1', resolveListen));
  const address = service.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const settings: BeylaSettings = {
    enabled: true,
    binary,
    debounceMs: 0,
    maxWaitMs: 0,
    // Beyla may spend up to ~30 s asking cloud metadata services before its endpoints come up.
    readiness: { timeoutMs: 60_000, minUptimeMs: 1000, requireInstrumented: false },
    shutdownTimeoutMs: 10_000,
    whenEmpty: 'stop',
    config: {},
    env: {},
  };
  const sup = new BeylaSupervisor({
    settings,
    runtimeDir: dir,
    logger: createLogger({ level: 'debug', destination: sink, env: {} }),
    registry: new client.Registry(),
    excludePorts: [],
  });
  t.after(async () => {
    await sup.stop();
    service.close();
    await rm(dir, { recursive: true, force: true });
  });
  const desired = {
    services: [],
    ports: [{ from: port, to: port }],
    selectors: [{ services: ['probe'], openPorts: [{ from: port, to: port }] }],
  };
  const outcome = await sup.apply(desired);
  assert.equal(outcome.result, 'started', `Beyla rejected the rendered config: ${outcome.error}`);
  const active = sup.status().instances[0];
  assert.ok(active?.pid);
  t.diagnostic(`beyla ${binary} pid ${active.pid}, config:\n${await readFile(active.configFile, 'utf8')}`);
  const health = JSON.parse(await fetchText(`http://127.0.0.1:${active.ports.health}/healthz`, { timeoutMs: 2000 })) as Record<string, unknown>;
  assert.equal(health.schema_version, 1);
  assert.notEqual(await sup.scrapeActive(), null, 'its Prometheus export answers through the supervisor');

  await sup.stop();
  const stopped = logs.find((l) => l.msg === 'Beyla instance stopped' && l.instance_pid === undefined && l.pid === active.pid);
  assert.ok(stopped, 'the instance was stopped');
  assert.equal(stopped.signal, null, 'it exited by itself after SIGTERM, not by SIGKILL');
  assert.equal(stopped.exit_code, 0);
  assert.throws(() => process.kill(active.pid ?? 0, 0), /ESRCH/);
});
