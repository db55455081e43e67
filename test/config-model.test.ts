// Table tests of the pure configuration model: drop-in and main-file schema, the last-good merge, and setting origins.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mergeSnapshot } from '../src/config/merge-snapshot.js';
import { parseDropIn } from '../src/config/parse-drop-in.js';
import { parseMainConfig } from '../src/config/parse-main.js';
import { coralSchema, compileValidators } from '../src/config/schema-validate.js';
import { SETTINGS as SETTING_TABLE } from '../src/config/settings.js';
import type { AgentSettings, FileResult, HealthCheck, PortRange, Service, Snapshot } from '../src/config/types.js';

const validators = compileValidators();
const HEALTH = { intervalMs: 10_000, timeoutMs: 2000, unhealthyThreshold: 3, healthyThreshold: 1 };
const enc = (text: string): Uint8Array => new TextEncoder().encode(text);

function dropIn(text: string, file = '/etc/coral/services.d/web.yaml'): FileResult {
  return parseDropIn({ file, bytes: enc(text), validators, healthDefaults: HEALTH });
}

describe('drop-in schema: valid inputs', () => {
  const tcp: HealthCheck = { kind: 'tcp', intervalMs: 10_000, timeoutMs: 2000 };
  const cases: { name: string; text: string; services: { name: string; ports: PortRange[]; health?: HealthCheck; exe?: string; type?: string; line?: number }[] }[] = [
    { name: 'one port, tcp health by default', text: 'name: web\nport: 8080\n', services: [{ name: 'web', ports: [{ from: 8080, to: 8080 }], health: tcp, line: 1 }] },
    { name: 'ports and ranges are sorted and merged', text: 'name: web\nports: [9000, "8081-8083", 8080, "8082-8084"]\n', services: [{ name: 'web', ports: [{ from: 8080, to: 8084 }, { from: 9000, to: 9000 }] }] },
    { name: 'port 1 and 65535 are the bounds', text: 'name: web\nports: [1, 65535]\n', services: [{ name: 'web', ports: [{ from: 1, to: 1 }, { from: 65535, to: 65535 }] }] },
    { name: 'health: none', text: 'name: web\nport: 80\nhealth: none\n', services: [{ name: 'web', ports: [{ from: 80, to: 80 }], health: { kind: 'none', intervalMs: 10_000, timeoutMs: 2000 } }] },
    { name: 'health: http is GET /', text: 'name: web\nport: 80\nhealth: http\n', services: [{ name: 'web', ports: [{ from: 80, to: 80 }], health: { kind: 'http', path: '/', intervalMs: 10_000, timeoutMs: 2000 } }] },
    { name: 'health: http:/path', text: 'name: web\nport: 80\nhealth: http:/healthz\n', services: [{ name: 'web', ports: [{ from: 80, to: 80 }], health: { kind: 'http', path: '/healthz', intervalMs: 10_000, timeoutMs: 2000 } }] },
    { name: 'health object with its own timing', text: 'name: web\nport: 80\nhealth:\n  check: http\n  path: /ready\n  interval: 30s\n  timeout: 1500ms\n', services: [{ name: 'web', ports: [{ from: 80, to: 80 }], health: { kind: 'http', path: '/ready', intervalMs: 30_000, timeoutMs: 1500 } }] },
    { name: 'exe glob and type hint', text: 'name: api\nport: 8000\nexe: "*gunicorn*"\ntype: http\n', services: [{ name: 'api', ports: [{ from: 8000, to: 8000 }], exe: '*gunicorn*', type: 'http' }] },
    { name: 'a list under services:', text: '# two services\nservices:\n  - name: web\n    port: 80\n  - name: admin\n    ports: ["9000-9002"]\n', services: [{ name: 'web', ports: [{ from: 80, to: 80 }], line: 3 }, { name: 'admin', ports: [{ from: 9000, to: 9002 }], line: 5 }] },
    { name: 'BOM and CRLF are accepted', text: '\ufeffname: web\r\nport: 8080\r\n', services: [{ name: 'web', ports: [{ from: 8080, to: 8080 }], line: 1 }] },
    { name: 'anchors and a few aliases are fine', text: 'services:\n  - &w { name: web, port: 80 }\n  - name: api\n    port: 81\n', services: [{ name: 'web', ports: [{ from: 80, to: 80 }] }, { name: 'api', ports: [{ from: 81, to: 81 }] }] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const result = dropIn(c.text);
      assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
      assert.equal(result.services.length, c.services.length);
      c.services.forEach((want, i) => {
        const got = result.services[i] as Service;
        assert.equal(got.name, want.name);
        assert.deepEqual(got.ports, want.ports);
        if (want.health) assert.deepEqual(got.health, want.health);
        assert.equal(got.exe, want.exe);
        assert.equal(got.type, want.type);
        if (want.line) assert.equal(got.source.line, want.line);
        assert.equal(got.source.file, '/etc/coral/services.d/web.yaml');
      });
    });
  }
});

describe('main file schema: errors at file:line:col with hints', () => {
  const file = '/etc/coral/coral.yaml';
  const cases: { name: string; text: string; line: number; col: number; message: RegExp; hint?: RegExp }[] = [
    { name: 'unknown top-level key', text: 'agnet:\n  log_level: info\n', line: 1, col: 1, message: /^unknown key "agnet" at the top level$/, hint: /did you mean "agent"\?/ },
    { name: 'misspelt nested key', text: 'agent:\n  beyla:\n    debounse: 2s\n', line: 3, col: 5, message: /^unknown key "debounse" in agent\.beyla$/, hint: /did you mean "debounce"\?/ },
    { name: 'unknown key with no close match lists the known ones', text: 'agent:\n  metrics:\n    port: 9464\n', line: 3, col: 5, message: /^unknown key "port" in agent\.metrics$/, hint: /known keys: listen/ },
    { name: 'enum value', text: 'agent:\n  log_level: verbose\n', line: 2, col: 14, message: /^agent\.log_level is "verbose"; expected one of trace, debug, info, warn, error, fatal$/ },
    { name: 'duration without unit', text: 'agent:\n  beyla:\n    debounce: 5\n', line: 3, col: 15, message: /^agent\.beyla\.debounce must be a string, not 5$/, hint: /"250ms"/ },
    { name: 'duration with a bad unit', text: 'agent:\n  beyla:\n    max_wait: 5 sec\n', line: 3, col: 15, message: /^agent\.beyla\.max_wait is not valid: "5 sec"$/ },
    { name: 'threshold 0', text: 'agent:\n  health:\n    unhealthy_threshold: 0\n', line: 3, col: 26, message: /^agent\.health\.unhealthy_threshold is 0, outside 1-100$/ },
    { name: 'listen without a port', text: 'agent:\n  metrics:\n    listen: localhost\n', line: 3, col: 13, message: /^agent\.metrics\.listen is not valid: "localhost"$/ },
    { name: 'relative control socket', text: 'agent:\n  control:\n    socket: run/c.sock\n', line: 3, col: 13, message: /^agent\.control\.socket is not valid/ },
    { name: 'owned Beyla key in passthrough', text: 'agent:\n  beyla:\n    config:\n      discovery:\n        instrument: []\n', line: 5, col: 9, message: /^agent\.beyla\.config\.discovery\.instrument is managed by coral-agent/ },
    { name: 'a service in agent.services', text: 'agent:\n  services:\n    - name: web\n      port: 0\n', line: 4, col: 13, message: /^agent\.services\[0\]\.port is 0, outside 1-65535$/ },
    { name: 'empty main file', text: '', line: 1, col: 1, message: /^file is empty$/, hint: /agent: \{\}/ },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const { result, settings, origins } = parseMainConfig({ file, bytes: enc(c.text), validators, env: {} });
      assert.equal(result.ok, false);
      const errors = result.ok ? [] : result.errors;
      const hit = errors.find((e) => c.message.test(e.message));
      assert.ok(hit, JSON.stringify(errors));
      assert.equal(`${hit.file}:${hit.line}:${hit.col}`, `${file}:${c.line}:${c.col}`);
      if (c.hint) assert.match(hit.hint ?? '', c.hint);
      // An invalid main file contributes no setting: everything is at its default.
      assert.equal(settings.beyla.debounceMs, 5000);
      assert.ok(Object.values(origins).every((o) => o.kind === 'default'));
    });
  }
});

// --- the merge -------------------------------------------------------------------------------

const SETTINGS = parseMainConfig({ file: '/c/coral.yaml', bytes: enc('agent: {}\n'), validators, env: {} }).settings as AgentSettings;

function svc(name: string, ports: [number, number][] | number, file: string, line = 1): Service {
  const ranges = typeof ports === 'number' ? [{ from: ports, to: ports }] : ports.map(([from, to]) => ({ from, to }));
  return { name, ports: ranges, health: { kind: 'tcp', intervalMs: 10_000, timeoutMs: 2000 }, source: { file, line, col: 1 } };
}
const ok = (file: string, ...services: Service[]): FileResult => ({ file, ok: true, services, warnings: [] });
const bad = (file: string): FileResult => ({ file, ok: false, errors: [{ file, line: 2, col: 7, severity: 'error', message: 'port is 0, outside 1-65535' }] });
const merge = (results: FileResult[], previous?: Snapshot): Snapshot => mergeSnapshot({ settings: SETTINGS, origins: {}, results, previous });
const effective = (s: Snapshot): string[] => s.services.map((x) => `${x.name}@${x.ports.map((r) => (r.from === r.to ? r.from : `${r.from}-${r.to}`)).join(',')}<${x.source.file}`);
const status = (s: Snapshot): Record<string, string> => Object.fromEntries(s.files.map((f) => [f.file, f.status]));

const M = '/c/coral.yaml';
const A = '/c/services.d/10-a.yaml';
const B = '/c/services.d/20-b.yaml';

describe('mergeSnapshot: last good content, later wins, port ownership', () => {
  const cases: { name: string; previous?: FileResult[]; results: FileResult[]; services: string[]; status: Record<string, string>; diagnostics?: RegExp[] }[] = [
    {
      name: 'all valid: services from every file, sorted by name',
      results: [ok(M, svc('zeta', 80, M)), ok(A, svc('alpha', 81, A)), ok(B, svc('mid', [[9000, 9010]], B))],
      services: ['alpha@81<' + A, 'mid@9000-9010<' + B, 'zeta@80<' + M],
      status: { [M]: 'valid', [A]: 'valid', [B]: 'valid' },
    },
    {
      name: 'same name in a later file wins, with a warning naming both places',
      results: [ok(M, svc('api', 8080, M, 4)), ok(A, svc('api', 8081, A, 2))],
      services: ['api@8081<' + A],
      status: { [M]: 'valid', [A]: 'valid' },
      diagnostics: [/^warning .*10-a\.yaml:2 service "api" here replaces the one defined at \/c\/coral\.yaml:4$/],
    },
    {
      name: 'two services on one port: the later file is rejected, the earlier keeps the port',
      results: [ok(M), ok(A, svc('web', 8080, A)), ok(B, svc('admin', [[8000, 8090]], B, 3))],
      services: ['web@8080<' + A],
      status: { [M]: 'valid', [A]: 'valid', [B]: 'rejected' },
      diagnostics: [/^error .*20-b\.yaml:3 port 8080 of service "admin" is already used by service "web" \(\/c\/services\.d\/10-a\.yaml:1\); this file is rejected$/],
    },
    {
      name: 'a file that became invalid keeps its last valid content',
      previous: [ok(M), ok(A, svc('web', 8080, A))],
      results: [ok(M), bad(A)],
      services: ['web@8080<' + A],
      status: { [M]: 'valid', [A]: 'stale' },
      diagnostics: [/^warning .*10-a\.yaml:2 .*is invalid; its last valid content stays in effect$/, /^error .*10-a\.yaml:2 port is 0/],
    },
    {
      name: 'an invalid file never valid before is rejected and adds nothing',
      previous: [ok(M)],
      results: [ok(M), bad(A)],
      services: [],
      status: { [M]: 'valid', [A]: 'rejected' },
      diagnostics: [/^error .*10-a\.yaml:2 port is 0/],
    },
    {
      name: 'an invalid main file keeps its services too',
      previous: [ok(M, svc('api', 8080, M))],
      results: [bad(M), ok(A, svc('web', 81, A))],
      services: ['api@8080<' + M, 'web@81<' + A],
      status: { [M]: 'stale', [A]: 'valid' },
      diagnostics: [/^warning \/c\/coral\.yaml:2 .*last valid content stays in effect$/, /^error \/c\/coral\.yaml:2 port is 0/],
    },
    {
      name: 'a deleted file removes its services',
      previous: [ok(M), ok(A, svc('web', 8080, A)), ok(B, svc('db', 5432, B))],
      results: [ok(M), ok(B, svc('db', 5432, B))],
      services: ['db@5432<' + B],
      status: { [M]: 'valid', [B]: 'valid' },
    },
    {
      name: 'a valid new version that takes a held port falls back to its last good version',
      previous: [ok(M), ok(A, svc('web', 8080, A)), ok(B, svc('db', 5432, B))],
      results: [ok(M), ok(A, svc('web', 8080, A)), ok(B, svc('db', 8080, B))],
      services: ['db@5432<' + B, 'web@8080<' + A],
      status: { [M]: 'valid', [A]: 'valid', [B]: 'stale' },
      diagnostics: [/^warning .*20-b\.yaml/, /^error .*20-b\.yaml:1 port 8080 of service "db" is already used by service "web"/],
    },
    {
      name: 'redefining a service frees its old port for a later file',
      results: [ok(M, svc('api', 8080, M)), ok(A, svc('api', 8081, A)), ok(B, svc('web', 8080, B))],
      services: ['api@8081<' + A, 'web@8080<' + B],
      status: { [M]: 'valid', [A]: 'valid', [B]: 'valid' },
      diagnostics: [/^warning .*service "api" here replaces/],
    },
    {
      name: 'redefining a service on its own port is not a conflict',
      results: [ok(M, svc('api', 8080, M)), ok(A, svc('api', 8080, A))],
      services: ['api@8080<' + A],
      status: { [M]: 'valid', [A]: 'valid' },
      diagnostics: [/^warning .*service "api" here replaces/],
    },
    {
      name: 'a range overlapping a single port conflicts',
      results: [ok(M, svc('api', 9005, M)), ok(A, svc('many', [[9000, 9010]], A))],
      services: ['api@9005<' + M],
      status: { [M]: 'valid', [A]: 'rejected' },
      diagnostics: [/^error .*port 9005 of service "many" is already used by service "api"/],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const previous = c.previous ? merge(c.previous) : undefined;
      const snapshot = merge(c.results, previous);
      assert.deepEqual(effective(snapshot), c.services);
      assert.deepEqual(status(snapshot), c.status);
      const lines = snapshot.diagnostics.map((d) => `${d.severity} ${d.file}:${d.line} ${d.message}`);
      assert.equal(lines.length, (c.diagnostics ?? []).length, lines.join('\n'));
      (c.diagnostics ?? []).forEach((re, i) => assert.match(lines[i] ?? '', re));
    });
  }

  test('a stale file stays stale across many loads, then a deletion removes it', () => {
    let snapshot = merge([ok(M), ok(A, svc('web', 8080, A))]);
    for (let i = 0; i < 3; i++) snapshot = merge([ok(M), bad(A)], snapshot);
    assert.deepEqual(effective(snapshot), ['web@8080<' + A]);
    snapshot = merge([ok(M)], snapshot);
    assert.deepEqual(effective(snapshot), []);
  });

  test('the merge is pure: it does not change its inputs', () => {
    const previous = merge([ok(M), ok(A, svc('web', 8080, A))]);
    const before = JSON.stringify(previous);
    const results = [ok(M), bad(A), ok(B, svc('db', 5432, B))];
    const resultsBefore = JSON.stringify(results);
    merge(results, previous);
    assert.equal(JSON.stringify(previous), before);
    assert.equal(JSON.stringify(results), resultsBefore);
  });
});

// --- origins -----------------------------------------------------------------------------------

describe('settings: value and origin, default < file < env < flag', () => {
  const file = '/etc/coral/coral.yaml';
  const text = 'agent:\n  log_level: debug\n  beyla:\n    debounce: 2s\n    binary: /opt/beyla/bin/beyla\n  health:\n    unhealthy_threshold: 5\n';
  const cases: { name: string; env?: Record<string, string>; flags?: Record<string, string>; key: string; value: unknown; origin: unknown; error?: RegExp }[] = [
    { name: 'default', key: 'agent.beyla.max_wait', value: 30_000, origin: { kind: 'default' } },
    { name: 'file, with line and column', key: 'agent.beyla.debounce', value: 2000, origin: { kind: 'file', name: file, line: 4, col: 15 } },
    { name: 'file integer', key: 'agent.health.unhealthy_threshold', value: 5, origin: { kind: 'file', name: file, line: 7, col: 26 } },
    { name: 'env over default', env: { CORAL_BEYLA_MAX_WAIT: '1m' }, key: 'agent.beyla.max_wait', value: 60_000, origin: { kind: 'env', name: 'CORAL_BEYLA_MAX_WAIT' } },
    { name: 'env over file', env: { CORAL_BEYLA_DEBOUNCE: '7s' }, key: 'agent.beyla.debounce', value: 7000, origin: { kind: 'env', name: 'CORAL_BEYLA_DEBOUNCE' } },
    { name: 'flag over env over file', env: { CORAL_LOG_LEVEL: 'warn' }, flags: { 'log-level': 'error' }, key: 'agent.log_level', value: 'error', origin: { kind: 'flag', name: 'log-level' } },
    { name: 'env over file when no flag', env: { CORAL_LOG_LEVEL: 'warn' }, key: 'agent.log_level', value: 'warn', origin: { kind: 'env', name: 'CORAL_LOG_LEVEL' } },
    { name: 'flag over file', flags: { 'beyla-binary': '/usr/local/bin/beyla' }, key: 'agent.beyla.binary', value: '/usr/local/bin/beyla', origin: { kind: 'flag', name: 'beyla-binary' } },
    { name: 'boolean from env', env: { CORAL_BEYLA_ENABLED: 'false' }, key: 'agent.beyla.enabled', value: false, origin: { kind: 'env', name: 'CORAL_BEYLA_ENABLED' } },
    { name: 'a bad env value is reported and the file value stays', env: { CORAL_BEYLA_DEBOUNCE: 'soon' }, key: 'agent.beyla.debounce', value: 2000, origin: { kind: 'file', name: file, line: 4, col: 15 }, error: /^agent\.beyla\.debounce: "soon" is not a duration/ },
    { name: 'a bad flag value is reported and the env value stays', env: { CORAL_LOG_LEVEL: 'warn' }, flags: { 'log-level': 'loud' }, key: 'agent.log_level', value: 'warn', origin: { kind: 'env', name: 'CORAL_LOG_LEVEL' }, error: /^agent\.log_level: "loud" is not one of trace, debug/ },
    { name: 'an env listen address without a port is refused, as in the file', env: { CORAL_METRICS_LISTEN: 'localhost' }, key: 'agent.metrics.listen', value: '127.0.0.1:9464', origin: { kind: 'default' }, error: /^agent\.metrics\.listen: "localhost" is not host:port/ },
    { name: 'a relative control socket from a flag is refused, as in the file', flags: { 'control-socket': 'run/c.sock' }, key: 'agent.control.socket', value: '/run/coral-agent/control.sock', origin: { kind: 'default' }, error: /^agent\.control\.socket: "run\/c\.sock" is not an absolute path$/ },
    { name: 'an IPv6 listen address from the env', env: { CORAL_METRICS_LISTEN: '[::1]:9465' }, key: 'agent.metrics.listen', value: '[::1]:9465', origin: { kind: 'env', name: 'CORAL_METRICS_LISTEN' } },
    { name: 'unrelated env variables are ignored', env: { BEYLA_DEBOUNCE: '1s', CORAL_DEBOUNCE: '1s' }, key: 'agent.beyla.debounce', value: 2000, origin: { kind: 'file', name: file, line: 4, col: 15 } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const main = parseMainConfig({ file, bytes: enc(text), validators, env: c.env ?? {}, flags: c.flags ?? {} });
      assert.ok(main.result.ok);
      const read: Record<string, unknown> = {
        'agent.beyla.max_wait': main.settings.beyla.maxWaitMs,
        'agent.beyla.debounce': main.settings.beyla.debounceMs,
        'agent.health.unhealthy_threshold': main.settings.health.unhealthyThreshold,
        'agent.log_level': main.settings.logLevel,
        'agent.beyla.binary': main.settings.beyla.binary,
        'agent.beyla.enabled': main.settings.beyla.enabled,
        'agent.metrics.listen': main.settings.metrics.listen,
        'agent.control.socket': main.settings.control.socket,
      };
      assert.deepEqual(read[c.key], c.value);
      assert.deepEqual(main.origins[c.key], c.origin);
      if (c.error) {
        assert.equal(main.settingErrors.length, 1);
        assert.match(main.settingErrors[0]?.message ?? '', c.error);
      } else {
        assert.deepEqual(main.settingErrors, []);
      }
    });
  }

  test('every setting in the table is a key of coral.schema.json, and env/flag patterns are the schema\'s', () => {
    for (const spec of SETTING_TABLE) {
      type SchemaNode = { properties?: Record<string, SchemaNode>; pattern?: string };
      let node: SchemaNode | undefined = coralSchema as unknown as SchemaNode;
      for (const part of spec.key.split('.')) node = node?.properties?.[part];
      assert.ok(node, `${spec.key} is in the schema`);
      if (spec.pattern) assert.equal(spec.pattern.source, node.pattern, spec.key);
      else if (spec.kind === 'string') assert.equal(node.pattern, undefined, `${spec.key} has a schema pattern the env/flag path does not check`);
    }
  });

  test('services_dir is resolved against the main file directory', () => {
    const main = parseMainConfig({ file, bytes: enc('agent:\n  services_dir: conf.d\n'), validators, env: {} });
    assert.equal(main.settings.servicesDir, '/etc/coral/conf.d');
    const fromEnv = parseMainConfig({ file, bytes: enc('agent: {}\n'), validators, env: { CORAL_SERVICES_DIR: '/srv/coral.d' } });
    assert.equal(fromEnv.settings.servicesDir, '/srv/coral.d');
    assert.deepEqual(fromEnv.origins['agent.services_dir'], { kind: 'env', name: 'CORAL_SERVICES_DIR' });
  });
});
