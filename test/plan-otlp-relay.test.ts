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
