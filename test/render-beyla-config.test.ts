// Golden and table tests of the pure Beyla config renderer and the ports-string helpers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import fc from 'fast-check';
import { CoralError } from '../src/errors.js';
import { mergeRanges } from '../src/config/ports.js';
import type { BeylaSettings, PortRange, Service } from '../src/config/types.js';
import type { DesiredState, Selector } from '../src/plan/types.js';
import { BEYLA_PORTS_PATTERN, formatPorts, parsePorts, subtractPorts } from '../src/plan/format-ports.js';
import { checkPassthroughConfig, renderBeylaConfig, type InstancePorts } from '../src/plan/render-beyla-config.js';

// dist/test/x.js -> test/fixtures/render (goldens live in the source tree). UPDATE_GOLDEN=1 rewrites them.
const GOLDEN_DIR = fileURLToPath(new URL('../../test/fixtures/render/', import.meta.url));

function settings(overrides: Partial<BeylaSettings> = {}): BeylaSettings {
  return {
    enabled: true,
    binary: 'beyla',
    debounceMs: 500,
    maxWaitMs: 5000,
    readiness: { timeoutMs: 30_000, minUptimeMs: 1000, requireInstrumented: false },
    shutdownTimeoutMs: 10_000,
    whenEmpty: 'stop',
    config: {},
    env: {},
    ...overrides,
  };
}

function service(name: string, ports: PortRange[], exe?: string): Service {
  return {
    name,
    ports,
    ...(exe === undefined ? {} : { exe }),
    health: { kind: 'tcp', intervalMs: 10_000, timeoutMs: 2000 },
    source: { file: `/etc/coral/services.d/${name}.yaml`, line: 1, col: 1 },
  };
}

function desired(selectors: Selector[]): DesiredState {
  const services = selectors.flatMap((s) => s.services.map((name) => service(name, s.openPorts, s.exePath)));
  return {
    services: services.sort((a, b) => a.name.localeCompare(b.name)),
    ports: mergeRanges(selectors.flatMap((s) => s.openPorts)),
    selectors,
  };
}

const p = (from: number, to = from): PortRange => ({ from, to });
const PORTS: InstancePorts = { metrics: 41001, health: 41002, internal: 41003 };

function golden(name: string, actual: string): void {
  const file = `${GOLDEN_DIR}${name}.yaml`;
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, actual);
  assert.equal(actual, readFileSync(file, 'utf8'), `rendered YAML differs from ${file} (UPDATE_GOLDEN=1 rewrites it)`);
}

function render(state: DesiredState, s: BeylaSettings = settings(), excludePorts: number[] = [9400]) {
  return renderBeylaConfig({ desired: state, settings: s, instancePorts: PORTS, excludePorts });
}

function instrumentOf(yaml: string): Array<Record<string, string>> {
  return (YAML.parse(yaml) as { discovery: { instrument: Array<Record<string, string>> } }).discovery.instrument;
}

describe('renderBeylaConfig golden files', () => {
  test('one service on one port', () => {
    const out = render(desired([{ services: ['api'], openPorts: [p(8080)] }]));
    assert.ok(out);
    golden('single-port', out.yaml);
    assert.equal(out.portsString, '8080');
    assert.equal(out.portsCount, 1);
  });

  test('adjacent ports of several services compress into ranges in one entry', () => {
    const out = render(desired([
      { services: ['web'], openPorts: [p(8080)] },
      { services: ['a'], openPorts: [p(3000)] },
      { services: ['b'], openPorts: [p(3001), p(3002, 3005)] },
      { services: ['c'], openPorts: [p(8081, 8089)] },
    ]));
    assert.ok(out);
    golden('adjacent-ports', out.yaml);
    assert.deepEqual(instrumentOf(out.yaml), [{ open_ports: '3000-3005,8080-8089' }]);
    assert.equal(out.portsCount, 16);
  });

  test('exe globs get their own entries, ANDed with their ports; same glob merged', () => {
    const out = render(desired([
      { services: ['api'], openPorts: [p(8080)] },
      { services: ['gunicorn-a'], openPorts: [p(9000)], exePath: '*gunicorn*' },
      { services: ['gunicorn-b'], openPorts: [p(9001)], exePath: '*gunicorn*' },
      { services: ['java'], openPorts: [], exePath: '/opt/*/bin/java' },
    ]));
    assert.ok(out);
    golden('exe-globs', out.yaml);
    assert.deepEqual(instrumentOf(out.yaml), [
      { open_ports: '8080' },
      { exe_path: '*gunicorn*', open_ports: '9000-9001' },
      { exe_path: '/opt/*/bin/java' },
    ]);
    assert.equal(out.portsString, '8080,9000-9001');
  });

  test("the agent's ports are cut out of the ranges; Beyla's own ports lie outside them", () => {
    const out = render(desired([{ services: ['range'], openPorts: [p(9398, 9402), p(41004, 41006)] }]), settings(), [9400, 41005, 50000]);
    assert.ok(out);
    golden('excluded-ports', out.yaml);
    assert.equal(out.portsString, '9398-9399,9401-9402,41004,41006');
  });

  test('invariant: a Beyla instance port inside a service\'s ports or an excluded port is refused, never rendered', () => {
    for (const [ranges, exclude] of [[[p(41000, 41001)], []], [[p(41003)], []], [[p(8080)], [41002]]] as const) {
      assert.throws(() => render(desired([{ services: ['svc'], openPorts: [...ranges] }]), settings(), [...exclude]),
        (error: unknown) => error instanceof CoralError && error.code === 'INTERNAL' && /Beyla instance port 4100[123] is a configured or excluded port/.test(error.message));
    }
  });

  test('when_empty all renders one catch-all entry without the excluded ports', () => {
    const out = render(desired([]), settings({ whenEmpty: 'all' }));
    assert.ok(out);
    golden('when-empty-all', out.yaml);
    assert.deepEqual(instrumentOf(out.yaml), [{ open_ports: '1-9399,9401-41000,41004-65535' }]);
    assert.equal(out.portsCount, 65535 - 4);
  });

  test('passthrough config is merged with sorted keys, beside the agent-owned keys', () => {
    const out = render(desired([{ services: ['api'], openPorts: [p(8080)] }]), settings({
      shutdownTimeoutMs: 2500,
      config: {
        otel_traces_export: { endpoint: 'http://collector:4318', protocol: 'http/protobuf' },
        attributes: { kubernetes: { enable: false } },
        prometheus_export: { features: ['application', 'network'] },
        discovery: { poll_interval: '1s', min_process_age: '1s' },
        log_level: 'debug',
      },
    }));
    assert.ok(out);
    golden('passthrough', out.yaml);
    const doc = YAML.parse(out.yaml) as Record<string, Record<string, unknown>>;
    assert.deepEqual(doc.prometheus_export, { port: 41001, path: '/metrics', features: ['application', 'network'] });
    assert.equal(doc.shutdown_timeout, '2500ms');
    assert.deepEqual(Object.keys(doc), [
      'discovery', 'prometheus_export', 'health_check', 'internal_metrics', 'shutdown_timeout',
      'attributes', 'log_level', 'otel_traces_export',
    ]);
  });
});

describe('renderBeylaConfig rules', () => {
  test('when_empty stop and no services: nothing to run', () => {
    assert.equal(render(desired([])), null);
  });

  test('a selector whose every port is excluded is dropped, not widened to its exe nor to the catch-all', () => {
    const state = desired([{ services: ['self'], openPorts: [p(9400)], exePath: '*node*' }]);
    assert.equal(render(state), null);
    // when_empty applies to "no services": a configured service on an excluded port runs no Beyla.
    assert.equal(render(state, settings({ whenEmpty: 'all' })), null);
  });

  test('the catch-all is never mixed with named entries', () => {
    const out = render(desired([{ services: ['api'], openPorts: [p(8080)] }]), settings({ whenEmpty: 'all' }));
    assert.ok(out);
    assert.deepEqual(instrumentOf(out.yaml), [{ open_ports: '8080' }]);
  });

  test('each instance ports appear in the YAML where Beyla reads them', () => {
    const out = render(desired([{ services: ['api'], openPorts: [p(8080)] }]));
    assert.ok(out);
    const doc = YAML.parse(out.yaml) as Record<string, Record<string, unknown>>;
    assert.deepEqual(doc.health_check, { port: 41002 });
    assert.deepEqual(doc.internal_metrics, { exporter: 'prometheus', prometheus: { port: 41003, path: '/internal/metrics' } });
    assert.equal((doc.prometheus_export as { port: number }).port, 41001);
  });

  test('output does not depend on selector order or passthrough key order', () => {
    const selectors: Selector[] = [
      { services: ['a'], openPorts: [p(3000)] },
      { services: ['b'], openPorts: [p(9000)], exePath: '*x*' },
      { services: ['c'], openPorts: [p(3001, 3010)] },
      { services: ['d'], openPorts: [], exePath: '*y*' },
    ];
    const configA = { z: 1, a: { d: 2, b: [3, 1] } };
    const configB = { a: { b: [3, 1], d: 2 }, z: 1 };
    const first = render(desired(selectors), settings({ config: configA }));
    const second = render(desired([...selectors].reverse()), settings({ config: configB }));
    assert.ok(first && second);
    assert.equal(first.yaml, second.yaml);
  });

  test('an agent-owned key in agent.beyla.config is a config error, not an override', () => {
    const state = desired([{ services: ['api'], openPorts: [p(8080)] }]);
    for (const config of [
      { discovery: { instrument: [{ open_ports: '1-65535' }] } },
      { prometheus_export: { port: 9999 } },
      { health_check: { port: 1 } },
      { internal_metrics: { exporter: 'otel' } },
      { open_port: '80' },
    ]) {
      assert.throws(() => render(state, settings({ config })), (error: unknown) => {
        assert.ok(error instanceof CoralError);
        assert.equal(error.code, 'INVALID_CONFIG');
        assert.match(error.message, /managed by coral-agent/);
        return true;
      }, JSON.stringify(config));
    }
  });

  test('checkPassthroughConfig names each offending key and accepts tuning keys', () => {
    assert.deepEqual(checkPassthroughConfig({ otel_metrics_export: { endpoint: 'http://x' }, discovery: { poll_interval: '1s' } }), []);
    const problems = checkPassthroughConfig({ discovery: { services: [] }, health_check: { port: 1 }, prometheus_export: { path: '/m' } });
    assert.equal(problems.length, 3);
    assert.match(problems.join('\n'), /agent\.beyla\.config\.discovery\.services/);
    assert.match(problems.join('\n'), /agent\.beyla\.config\.health_check/);
    assert.match(problems.join('\n'), /agent\.beyla\.config\.prometheus_export\.path/);
    assert.deepEqual(checkPassthroughConfig(['x']), ['agent.beyla.config must be a mapping of Beyla settings']);
  });
});

describe('ports strings', () => {
  test('formatPorts compresses adjacent and overlapping ports', () => {
    assert.equal(formatPorts([p(8081), p(8080), p(8082, 8090), p(3000), p(3002)]), '3000,3002,8080-8090');
    assert.equal(formatPorts([]), '');
  });

  test('parsePorts reads what Beyla accepts and rejects what it would reject', () => {
    assert.deepEqual(parsePorts(' 3000 , 8080 - 8082,8083'), [p(3000), p(8080, 8083)]);
    for (const bad of ['abc', '', '80,', '0', '70000', '90-80']) {
      assert.throws(() => parsePorts(bad), CoralError, bad);
    }
  });

  test('subtractPorts punches holes', () => {
    assert.deepEqual(subtractPorts([p(1, 10)], [1, 5, 10, 20]), [p(2, 4), p(6, 9)]);
  });

  test('format and parse round-trip to the merged ranges, and the text matches Beyla\'s pattern', () => {
    const range = fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 50 }))
      .map(([from, width]) => p(from, Math.min(65535, from + width)));
    fc.assert(fc.property(fc.array(range, { minLength: 1, maxLength: 20 }), (ranges) => {
      const text = formatPorts(ranges);
      assert.match(text, BEYLA_PORTS_PATTERN);
      assert.deepEqual(parsePorts(text), mergeRanges(ranges));
    }));
  });
});
