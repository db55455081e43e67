// agent.beyla.config against the Beyla key table: selection keys refused at their line, unknown keys warned, __proto__ refused; the table against Beyla's published schema.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { BEYLA_KEYS, REFUSED_KEYS } from '../src/config/beyla-keys.js';
import { refusedEnvReason } from '../src/config/check-beyla-env.js';
import { checkBeylaPassthrough } from '../src/config/check-beyla-passthrough.js';
import { parseMainConfig } from '../src/config/parse-main.js';
import { compileValidators } from '../src/config/schema-validate.js';
import { renderBeylaConfig } from '../src/plan/render-beyla-config.js';
import { CoralError } from '../src/errors.js';

// dist/test/x.js -> the shared/ directory beside the clone (CI puts a copy there).
const REFERENCE = fileURLToPath(new URL('../../../shared/reference/beyla-v3.31.0-config-schema.json', import.meta.url));
const validators = compileValidators();

function parse(text: string) {
  return parseMainConfig({ file: '/etc/coral/coral.yaml', bytes: new TextEncoder().encode(text), validators, env: {} });
}

const config = (body: string) => `agent:\n  beyla:\n    config:\n${body.split('\n').map((l) => `      ${l}`).join('\n')}\n`;

describe('agent.beyla.config in coral.yaml', () => {
  test('every selection key is refused at its own line and column, with the reason', () => {
    for (const [body, key, reason] of [
      ['target_pids: [1]', 'target_pids', /only those pids/],
      ['open_port: 80', 'open_port', /selects processes/],
      ['executable_name: node', 'executable_name', /selects processes/],
      ['AutoTargetExe: "*node*"', 'AutoTargetExe', /selects processes/],
      ['AutoTargetLanguage: go', 'AutoTargetLanguage', /selects processes/],
      ['service_name: x', 'service_name', /top-level selector/],
      ['service_namespace: x', 'service_namespace', /top-level selector/],
      ['profile_port: 6060', 'profile_port', /pprof port on every network interface/],
      ['otel_traces_export:\n  endpoint: http://c\ndiscovery:\n  exclude_instrument: []', 'discovery.exclude_instrument', /removes processes/],
      ['discovery:\n  survey: [{open_ports: 80}]', 'discovery.survey', /selects processes/],
    ] as const) {
      const { result } = parse(config(body));
      assert.equal(result.ok, false, body);
      if (result.ok) continue;
      const error = result.errors.find((e) => e.path === `agent.beyla.config.${key}`);
      assert.ok(error, `${key}: ${JSON.stringify(result.errors)}`);
      const lines = config(body).split('\n');
      const line = lines.findIndex((l) => l.trimStart().startsWith(`${key.split('.').at(-1)}:`)) + 1;
      assert.equal(error.line, line, key);
      assert.equal(error.col, (lines[line - 1] ?? '').search(/\S/) + 1, key);
      assert.match(error.message, reason, key);
    }
  });

  test('an unknown key is a warning with did-you-mean, and the file stays valid', () => {
    const { result } = parse(config('otel_trace_export:\n  endpoint: http://collector:4318\notel_metrics_export:\n  endpont: http://c\nnot_a_beyla_key_at_all: 1'));
    assert.equal(result.ok, true);
    if (!result.ok) return;
    const byPath = new Map(result.warnings.map((w) => [w.path, w]));
    assert.equal(result.warnings.length, 3);
    assert.match(byPath.get('agent.beyla.config.otel_trace_export')?.message ?? '', /Beyla ignores it \(did you mean "otel_traces_export"\?\)/);
    assert.deepEqual([byPath.get('agent.beyla.config.otel_trace_export')?.line, byPath.get('agent.beyla.config.otel_trace_export')?.col], [4, 7]);
    assert.match(byPath.get('agent.beyla.config.otel_metrics_export.endpont')?.message ?? '', /did you mean "endpoint"/);
    assert.equal(byPath.get('agent.beyla.config.not_a_beyla_key_at_all')?.severity, 'warning');
    const known = parse(config('otel_traces_export:\n  endpoint: http://c\nattributes:\n  kubernetes:\n    enable: true')).result;
    assert.ok(known.ok && known.warnings.length === 0, 'known keys give no warning');
  });

  test('a __proto__ key is refused at its line and never reaches the rendered YAML', () => {
    const text = config('__proto__:\n  discovery:\n    instrument: [{open_ports: "1-65535"}]\n  prometheus_export:\n    port: 9999');
    const { result } = parse(text);
    assert.equal(result.ok, false);
    if (result.ok) return;
    const error = result.errors.find((e) => e.path === 'agent.beyla.config.__proto__');
    assert.ok(error, JSON.stringify(result.errors));
    assert.deepEqual([error.line, error.col], [4, 7]);

    // The renderer refuses it too, and never lets it become a prototype.
    const passthrough = (YAML.parse(text) as { agent: { beyla: { config: Record<string, unknown> } } }).agent.beyla.config;
    assert.throws(() => renderBeylaConfig({
      desired: { services: [], ports: [{ from: 8080, to: 8080 }], selectors: [{ services: ['web'], openPorts: [{ from: 8080, to: 8080 }] }] },
      settings: { enabled: true, binary: 'beyla', debounceMs: 0, maxWaitMs: 0, readiness: { timeoutMs: 1, minUptimeMs: 1, requireInstrumented: false }, shutdownTimeoutMs: 1000, whenEmpty: 'stop', config: passthrough, env: {} },
      instancePorts: { metrics: 9400, health: 9401, internal: 9402 },
      excludePorts: [],
    }), (e: unknown) => e instanceof CoralError && /__proto__/.test(e.message));
  });

  test('a __proto__ deep inside a section is refused too', () => {
    const findings = checkBeylaPassthrough(JSON.parse('{"attributes":{"kubernetes":{"__proto__":{"enable":true}}}}'));
    assert.deepEqual(findings.map((f) => [f.path.join('.'), f.severity]), [['attributes.kubernetes.__proto__', 'error']]);
  });
});

describe('agent.beyla.env in coral.yaml', () => {
  test('variables that select processes or set what the agent owns are refused at their key; others pass', () => {
    const text = 'agent:\n  beyla:\n    env:\n      BEYLA_LOG_LEVEL: debug\n      BEYLA_OPEN_PORT: "1-65535"\n      OTEL_GO_AUTO_TARGET_EXE: "*"\n      OTEL_EBPF_HEALTH_CHECK_PORT: "1"\n      OTEL_SERVICE_NAME: host\n      BEYLA_CONFIG_PATH: /tmp/x.yaml\n';
    const { result } = parse(text);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.deepEqual(result.errors.map((e) => [e.path, e.line, e.col]), [
      ['agent.beyla.env.BEYLA_OPEN_PORT', 5, 7],
      ['agent.beyla.env.OTEL_GO_AUTO_TARGET_EXE', 6, 7],
      ['agent.beyla.env.OTEL_EBPF_HEALTH_CHECK_PORT', 7, 7],
      ['agent.beyla.env.BEYLA_CONFIG_PATH', 9, 7],
    ]);
    assert.match(result.errors[0]?.message ?? '', /adds a discovery selector/);
  });
});

type SchemaNode = { $ref?: string; properties?: Record<string, SchemaNode>; 'x-env-var'?: string };

describe('the key table against Beyla v3.31.0\'s published schema', () => {
  const present = existsSync(REFERENCE);
  test('top-level keys and each listed section\'s keys are exactly the schema\'s', { skip: present ? false : `skipped: ${REFERENCE} is absent (CI puts shared/ beside the clone)` }, () => {
    const schema = JSON.parse(readFileSync(REFERENCE, 'utf8')) as SchemaNode & { $defs: Record<string, SchemaNode> };
    const resolve = (node: SchemaNode): SchemaNode => (node.$ref ? resolve(schema.$defs[node.$ref.split('/').at(-1) ?? ''] ?? {}) : node);
    const top = resolve(schema).properties ?? {};
    assert.deepEqual(Object.keys(BEYLA_KEYS).sort(), Object.keys(top).sort());
    for (const [key, children] of Object.entries(BEYLA_KEYS)) {
      const theirs = Object.keys(resolve(top[key] ?? {}).properties ?? {}).sort();
      if (children === null) {
        // Scalars, and keys refused whole (open_port and target_pids are port-range objects in the schema).
        assert.ok(theirs.length === 0 || REFUSED_KEYS.some((r) => r.path.length === 1 && r.path[0] === key), `${key} has sections in the schema: list them`);
        continue;
      }
      assert.deepEqual([...children].sort(), theirs, key);
    }
    for (const { path } of REFUSED_KEYS) {
      let node: SchemaNode | undefined = schema;
      for (const part of path) node = node ? resolve(node).properties?.[part] : undefined;
      assert.ok(node, `refused key ${path.join('.')} is not in Beyla's schema`);
    }
    assert.equal(top.auto_target_exe, undefined, 'auto_target_exe is an environment variable only, not a YAML key');
    // The environment spelling Beyla documents for each refused scalar key is refused in agent.beyla.env.
    for (const { path } of REFUSED_KEYS) {
      let node: SchemaNode | undefined = schema;
      for (const part of path) node = node ? resolve(node).properties?.[part] : undefined;
      const leaves = node?.['x-env-var'] ? [node['x-env-var']] : Object.values(resolve(node ?? {}).properties ?? {}).map((n) => n['x-env-var']).filter((n): n is string => typeof n === 'string');
      for (const name of leaves) {
        // Not refused: naming and sampling (OTEL_SERVICE_NAME is common and harmless), and the scrape interval of Beyla's own BPF metrics.
        if (name === '-' || /^OTEL_(SERVICE_NAME|TRACES_SAMPLER)/.test(name) || name === 'BEYLA_SERVICE_NAMESPACE' || name === 'OTEL_EBPF_BPF_METRIC_SCRAPE_INTERVAL') continue;
        assert.ok(refusedEnvReason(name), `${path.join('.')}: its variable ${name} is not refused in agent.beyla.env`);
      }
    }
  });
});
