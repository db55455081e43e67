// Beyla's lines that are not slog get their level; a readiness failure quotes only Beyla's error-level lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BeylaInstance } from '../src/beyla/beyla-instance.js';
import { parseBeylaLog } from '../src/beyla/parse-beyla-log.js';
import { pickFreePorts } from '../src/beyla/pick-free-ports.js';
import { probeReadiness } from '../src/beyla/probe-readiness.js';
import { CoralError } from '../src/errors.js';
import { beylaDoublePath } from './beyla-double/beyla-double-path.js';
import { captureLogger } from './support/capture-logger.js';

test('lines that are not slog: the SDK, Go log and Go runtime forms carry their level', () => {
  for (const [line, level] of [
    ['SDK 2026/12/01 08:25:21 WARN Unable to determine cloud provider: no EC2 IMDS role found', 'warn'],
    ['SDK 2026/12/01 08:25:21 ERROR failed to refresh', 'error'],
    ['SDK 2026/12/01 08:25:21 DEBUG request', 'debug'],
    ['2026/12/01 08:25:21 [ERROR] something broke', 'error'],
    ['2026/12/01 08:25:21.123456 WARN: slow', 'warn'],
    ['2026/12/01 08:25:21 plain Go log line', 'info'],
    ['panic: runtime error: invalid memory address or nil pointer dereference', 'fatal'],
    ['fatal error: concurrent map writes', 'fatal'],
    ['flag provided but not defined: -version', 'error'],
    ['Node.js v20.20.2', 'info'],
    ['goroutine 1 [running]:', 'info'],
  ] as const) {
    const record = parseBeylaLog(line);
    assert.equal(record.level, level, line);
    assert.equal(record.structured, false, line);
    assert.equal(record.msg, line);
  }
});

test('a candidate that exits after its SDK WARN line fails without quoting that WARN line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coral-loglevel-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'beyla.yaml');
  // Free ports, not 1-3: the double exits before it binds, but the readiness probe asks 127.0.0.1 for /healthz meanwhile.
  const [metrics = 0, health = 0, internal = 0] = await pickFreePorts(3);
  await writeFile(configFile, `discovery:\n  instrument:\n    - open_ports: "9000"\nprometheus_export: { port: ${metrics}, path: /metrics }\nhealth_check: { port: ${health} }\n`);
  const { logger, lines } = captureLogger();
  const instance = new BeylaInstance({
    binary: beylaDoublePath(), configFile, generation: 1, ports: { metrics, health, internal },
    env: { PATH: process.env.PATH ?? '', FAKE_BEYLA_FAULT: 'exit-at-start=3' }, shutdownTimeoutMs: 1000, logger,
  });
  t.after(() => instance.kill());
  const error = await probeReadiness({
    instance, readiness: { timeoutMs: 10_000, minUptimeMs: 300, requireInstrumented: false }, selectors: [], excludePorts: [], signal: new AbortController().signal,
  }).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof CoralError, String(error));
  assert.equal(error.message, 'Beyla generation 1 exited with code 3 before it was ready');
  assert.ok(lines.some((l) => l.level === 40 && /^SDK .* WARN /.test(String(l.msg))), 'the SDK line is logged at warn (40)');
});
