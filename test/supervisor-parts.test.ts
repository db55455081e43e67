// Table tests of the supervisor's parts: Beyla log parsing, environment scrubbing, crash policy, binary lookup, free ports.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoralError } from '../src/errors.js';
import { parseBeylaLog } from '../src/beyla/parse-beyla-log.js';
import { scrubEnv } from '../src/beyla/scrub-env.js';
import { CrashPolicy, backoffMs } from '../src/lifecycle/crash-policy.js';
import { findBeylaBinary } from '../src/beyla/find-beyla-binary.js';
import { pickFreePorts, readEphemeralRange } from '../src/beyla/pick-free-ports.js';
import { instrumentedByName } from '../src/beyla/check-instrumented.js';

describe('parseBeylaLog', () => {
  test('slog text lines become level, message and fields', () => {
    const record = parseBeylaLog('time=2026-11-23T08:25:21.209Z level=INFO msg="Starting main node" component=beyla.Instrumenter');
    assert.deepEqual(record, { level: 'info', msg: 'Starting main node', fields: { beyla_component: 'beyla.Instrumenter' }, structured: true });
  });

  test('quoted values with escapes, quoted keys, and levels map to pino levels', () => {
    const line = 'time=x level=ERROR msg="wrong configuration" error="open \\"/etc/b.yaml\\": no such file" "OpenTelemetry SDK Version"=1.38.0';
    const record = parseBeylaLog(line);
    assert.equal(record.level, 'error');
    assert.equal(record.msg, 'wrong configuration');
    assert.equal(record.fields.error, 'open "/etc/b.yaml": no such file');
    assert.equal(record.fields.opentelemetry_sdk_version, '1.38.0');
    for (const [text, level] of [['DEBUG', 'debug'], ['WARN', 'warn'], ['ERROR+2', 'error'], ['INFO', 'info']] as const) {
      assert.equal(parseBeylaLog(`level=${text} msg=x`).level, level);
    }
  });

  test("Beyla's pid and component do not overwrite the agent's own keys", () => {
    const record = parseBeylaLog('level=INFO msg="instrumenting process" component=discover.traceAttacher pid=4242 cmd=/usr/bin/node');
    assert.deepEqual(record.fields, { beyla_component: 'discover.traceAttacher', beyla_pid: '4242', cmd: '/usr/bin/node' });
  });

  test('JSON lines (log_format: json in newer releases) are parsed too', () => {
    const record = parseBeylaLog('{"time":"t","level":"WARN","msg":"slow","component":"x","n":3}');
    assert.deepEqual(record, { level: 'warn', msg: 'slow', fields: { beyla_component: 'x', n: '3' }, structured: true });
  });

  test('lines that are not logfmt pass through raw, at the level they name (info when none)', () => {
    for (const [line, level] of [['SDK 2026/11/23 08:25:21 WARN Unable to determine cloud provider', 'warn'], ['panic: runtime error', 'fatal'], ['goroutine 1 [running]:', 'info']]) {
      assert.deepEqual(parseBeylaLog(line ?? ''), { level, msg: line, fields: {}, structured: false });
    }
  });
});

describe('scrubEnv', () => {
  test('a hostile inherited environment: only PATH, locale, time zone and TMPDIR reach Beyla, then the explicit env', () => {
    const hostile: NodeJS.ProcessEnv = {
      PATH: '/usr/bin', LANG: 'C.UTF-8', LC_TIME: 'en_GB.UTF-8', TZ: 'UTC', TMPDIR: '/tmp', HOME: undefined,
      BEYLA_OPEN_PORT: '1-65535', BEYLA_AUTO_TARGET_EXE: '*', BEYLA_CONFIG_PATH: '/x', BEYLA_EXECUTABLE_NAME: 'sh',
      OTEL_GO_AUTO_TARGET_EXE: '/usr/bin/*', OTEL_EBPF_OPEN_PORT: '1-65535', OTEL_EBPF_LOG_LEVEL: 'debug',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://evil', OTEL_SERVICE_NAME: 'x', OTEL_RESOURCE_ATTRIBUTES: 'a=b',
      NOTIFY_SOCKET: '/run/systemd/notify', LD_PRELOAD: '/tmp/evil.so', LD_LIBRARY_PATH: '/tmp', NODE_OPTIONS: '--require /tmp/x.js',
      GODEBUG: 'x', SSH_AUTH_SOCK: '/tmp/agent', INVOCATION_ID: 'abc', CORAL_BEYLA_PASS_ENV: '* ;rm',
    };
    const env = scrubEnv(hostile, { BEYLA_LOG_LEVEL: 'debug', PATH: '/opt/bin' });
    assert.deepEqual(env, { PATH: '/opt/bin', LANG: 'C.UTF-8', LC_TIME: 'en_GB.UTF-8', TZ: 'UTC', TMPDIR: '/tmp', BEYLA_LOG_LEVEL: 'debug' });
  });

  test('CORAL_BEYLA_PASS_ENV names more inherited variables (NAME or PREFIX*)', () => {
    const env = scrubEnv({ PATH: '/bin', CORAL_BEYLA_PASS_ENV: 'OTEL_EXPORTER_OTLP_HEADERS, HTTPS_PROXY FAKE_*', OTEL_EXPORTER_OTLP_HEADERS: 'k=v', HTTPS_PROXY: 'http://p', FAKE_A: '1', OTEL_SERVICE_NAME: 'x' });
    assert.deepEqual(env, { PATH: '/bin', OTEL_EXPORTER_OTLP_HEADERS: 'k=v', HTTPS_PROXY: 'http://p', FAKE_A: '1' });
  });
});

describe('CrashPolicy', () => {
  test('backoff doubles from 1 s to a 30 s cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((n) => backoffMs(n, 1000, 30_000)), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  });

  test('five crashes within five minutes open the circuit; slow retries; a stable run resets it', () => {
    const policy = new CrashPolicy();
    const start = 1_000_000;
    const delays = [0, 1, 2, 3].map((i) => policy.recordCrash(start + i * 10_000).delayMs);
    assert.deepEqual(delays, [1000, 2000, 4000, 8000]);
    assert.equal(policy.circuitOpen, false);
    const fifth = policy.recordCrash(start + 40_000);
    assert.deepEqual(fifth, { delayMs: 60_000, opened: true });
    assert.equal(policy.recordCrash(start + 200_000).opened, false, 'opened only once');
    assert.equal(policy.isStable(start, start + 9 * 60_000), false);
    assert.equal(policy.isStable(start, start + 10 * 60_000), true);
    policy.reset();
    assert.equal(policy.circuitOpen, false);
    assert.equal(policy.recordCrash(start + 2_000_000).delayMs, 1000);
  });

  test('crashes spread wider than the window do not open the circuit', () => {
    const policy = new CrashPolicy({ circuitCrashes: 3, circuitWindowMs: 1000 });
    for (const at of [0, 600, 1200, 1800]) policy.recordCrash(at);
    assert.equal(policy.circuitOpen, false);
  });
});

describe('findBeylaBinary', () => {
  test('finds an executable by absolute path or on PATH; explains what is missing', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'coral-findbin-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const bin = join(dir, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'beyla'), '#!/bin/sh\n');
    await chmod(join(bin, 'beyla'), 0o755);
    await writeFile(join(dir, 'not-exec'), '');
    assert.equal(await findBeylaBinary(join(bin, 'beyla')), join(bin, 'beyla'));
    assert.equal(await findBeylaBinary('beyla', { PATH: `/nonexistent:${bin}` }), join(bin, 'beyla'));
    for (const [name, env, pattern] of [
      [join(dir, 'not-exec'), {}, /not-exec is missing or not executable/],
      [join(dir, 'absent'), {}, /absent is missing/],
      ['beyla', { PATH: '/nonexistent' }, /'beyla' not found on PATH \(\/nonexistent\)/],
    ] as const) {
      await assert.rejects(findBeylaBinary(name, env), (error: unknown) => {
        assert.ok(error instanceof CoralError);
        assert.equal(error.code, 'BEYLA_UNAVAILABLE');
        assert.match(error.message, pattern);
        assert.match(error.format(), /install Grafana Beyla \(https:\/\/github\.com\/grafana\/beyla\/releases\) and set agent\.beyla\.binary/);
        return true;
      });
    }
  });
});

describe('small helpers', () => {
  test('pickFreePorts returns distinct ports, none of the avoided ones', async () => {
    const first = await pickFreePorts(3);
    const second = await pickFreePorts(3, { avoid: first });
    assert.equal(new Set([...first, ...second]).size, 6);
  });

  test('pickFreePorts takes ports above the ephemeral range, where no automatic port choice lands, then falls back to it', async () => {
    const range = readEphemeralRange();
    assert.ok(range, 'this host has a readable ip_local_port_range');
    if (range.to < 65535) {
      const above = await pickFreePorts(3);
      assert.ok(above.every((p) => p > range.to && p <= 65535), `${above.join(',')} not above ${range.from}-${range.to}`);
    }
    // With nothing above the range, the OS's listen(0) gives ports inside it.
    const inside = await pickFreePorts(3, { ephemeralRange: { from: range.from, to: 65535 } });
    assert.ok(inside.every((p) => p >= range.from && p <= range.to), `${inside.join(',')} not in ${range.from}-${range.to}`);
    // Avoided ranges hold above the range too.
    if (range.to < 65535) {
      const avoided = { from: range.to + 1, to: 65535 - 3 };
      const left = await pickFreePorts(3, { avoidRanges: [avoided] });
      assert.ok(left.every((p) => p < avoided.from || p > avoided.to), `${left.join(',')} inside the avoided ${avoided.from}-${avoided.to}`);
    }
  });

  test('readEphemeralRange reads ip_local_port_range, and null when the file is missing or odd', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coral-range-'));
    try {
      await writeFile(join(dir, 'ok'), '32768\t60999\n');
      await writeFile(join(dir, 'odd'), '60999 32768\n');
      assert.deepEqual(readEphemeralRange(join(dir, 'ok')), { from: 32768, to: 60999 });
      assert.equal(readEphemeralRange(join(dir, 'odd')), null);
      assert.equal(readEphemeralRange(join(dir, 'missing')), null);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('instrumentedByName sums beyla_instrumented_processes by process_name', () => {
    const text = [
      '# TYPE beyla_instrumented_processes gauge',
      'beyla_instrumented_processes{process_name="node"} 2',
      'beyla_instrumented_processes{process_name="java"} 1',
      'beyla_internal_build_info{version="v3.31.0"} 1',
    ].join('\n');
    assert.deepEqual([...instrumentedByName(text)], [['node', 2], ['java', 1]]);
  });
});
