// planOtlpRelay: Beyla's OTLP endpoints resolved as Beyla does, gRPC refused with a way out, and each instance's relay environment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planOtlpRelay, relayInstanceEnv } from '../src/plan/plan-otlp-relay.js';

test('endpoints: signal variable > config endpoint > common endpoint + /v1/<signal>; none configured means no relay', () => {
  const rows: Array<[string, Parameters<typeof planOtlpRelay>[0], ReturnType<typeof planOtlpRelay>]> = [
    ['nothing', { env: {}, config: {} }, { kind: 'none' }],
    ['common', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }, config: {} },
      { kind: 'relay', upstream: { traces: { url: 'http://c:4318/v1/traces' }, metrics: { url: 'http://c:4318/v1/metrics' } } }],
    ['config traces only', { env: {}, config: { otel_traces_export: { endpoint: 'https://t.example/otlp/traces' } } },
      { kind: 'relay', upstream: { traces: { url: 'https://t.example/otlp/traces' } } }],
    ['signal env beats config', { env: { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m:4318/x' }, config: { otel_metrics_export: { endpoint: 'http://other:4318' } } },
      { kind: 'relay', upstream: { metrics: { url: 'http://m:4318/x' } } }],
    ['debug protocol sends nothing', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'debug' }, config: {} }, { kind: 'none' }],
    ['http on 4317 when said so', { env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4317/v1/traces', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }, config: {} },
      { kind: 'relay', upstream: { traces: { url: 'http://c:4317/v1/traces' } } }],
  ];
  for (const [name, input, want] of rows) assert.deepEqual(planOtlpRelay(input), want, name);
});

test('gRPC (said, or guessed from port 4317 as Beyla does) is refused with the setting to change', () => {
  const inputs: Parameters<typeof planOtlpRelay>[0][] = [
    { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317' }, config: {} },
    { env: {}, config: { otel_metrics_export: { endpoint: 'http://c:9000', protocol: 'grpc' } } },
    { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, config: {} },
  ];
  for (const input of inputs) {
    const plan = planOtlpRelay(input);
    assert.equal(plan.kind, 'refused', JSON.stringify(input));
    if (plan.kind !== 'refused') continue;
    assert.match(plan.message, /uses gRPC; coral-agent relays OTLP over HTTP only/);
    assert.match(plan.hint, /http\/protobuf/);
  }
  assert.equal(planOtlpRelay({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, config: {} }).kind, 'refused', 'not a URL');
});

test("each instance's environment points every exported signal at its own relay path", () => {
  const plan = planOtlpRelay({ env: {}, config: { otel_traces_export: { endpoint: 'http://t:4318/v1/traces' } } });
  assert.deepEqual(relayInstanceEnv(plan, 'http://127.0.0.1:5000/g/7'), {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:5000/g/7',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:5000/g/7/v1/traces',
  });
  assert.deepEqual(relayInstanceEnv({ kind: 'none' }, 'http://x'), {});
});

test('TLS files: the signal\'s variable wins over the common one; insecure_skip_verify from the config; a certificate needs its key', () => {
  const plan = planOtlpRelay({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c:4318',
      OTEL_EXPORTER_OTLP_CERTIFICATE: '/etc/ca.pem',
      OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE: '/etc/metrics-ca.pem',
      OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE: '/etc/c.pem',
      OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: '/etc/c.key',
    },
    config: { otel_metrics_export: { insecure_skip_verify: true } },
  });
  assert.deepEqual(plan, {
    kind: 'relay',
    upstream: {
      traces: { url: 'https://c:4318/v1/traces', caFile: '/etc/ca.pem', certFile: '/etc/c.pem', keyFile: '/etc/c.key' },
      metrics: { url: 'https://c:4318/v1/metrics', caFile: '/etc/metrics-ca.pem', insecureSkipVerify: true },
    },
  });
  const keyless = planOtlpRelay({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c:4318', OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: '/etc/c.pem' }, config: {} });
  assert.equal(keyless.kind, 'refused');
  if (keyless.kind === 'refused') assert.match(keyless.message, /OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE is set for the traces export without OTEL_EXPORTER_OTLP_CLIENT_KEY/);
});

test('a refusal names the setting that asks for it (for check\'s file:line:col)', () => {
  const rows: Array<[Parameters<typeof planOtlpRelay>[0], unknown]> = [
    [{ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, config: {} }, { in: 'env', path: ['OTEL_EXPORTER_OTLP_PROTOCOL'] }],
    [{ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317' }, config: {} }, { in: 'env', path: ['OTEL_EXPORTER_OTLP_ENDPOINT'] }],
    [{ env: {}, config: { otel_metrics_export: { endpoint: 'http://c:9000', protocol: 'grpc' } } }, { in: 'config', path: ['otel_metrics_export', 'protocol'] }],
    [{ env: {}, config: { otel_traces_export: { endpoint: 'http://c:4317' } } }, { in: 'config', path: ['otel_traces_export', 'endpoint'] }],
    [{ env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector:4318' }, config: {} }, { in: 'env', path: ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] }],
  ];
  for (const [input, source] of rows) {
    const plan = planOtlpRelay(input);
    assert.equal(plan.kind, 'refused', JSON.stringify(input));
    if (plan.kind === 'refused') assert.deepEqual(plan.source, source, JSON.stringify(input));
  }
});
