// Whether Beyla exports OTLP, to which endpoints, and each instance's environment pointing it at the agent's relay instead.

export type RelaySignal = 'traces' | 'metrics';

export interface OtlpRelayPlanInput {
  /** agent.beyla.env */
  env: Readonly<Record<string, string>>;
  /** agent.beyla.config */
  config: Readonly<Record<string, unknown>>;
}

export type OtlpRelayPlan =
  | { kind: 'none' }
  /** Full upstream URL per exported signal. */
  | { kind: 'relay'; upstream: Partial<Record<RelaySignal, string>> }
  | { kind: 'refused'; message: string; hint: string };

const SIGNALS: readonly RelaySignal[] = ['traces', 'metrics'];
const CONFIG_KEY: Record<RelaySignal, string> = { traces: 'otel_traces_export', metrics: 'otel_metrics_export' };

function section(config: OtlpRelayPlanInput['config'], key: string): Record<string, unknown> {
  const value = config[key];
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);

/** OTLP's default when no protocol is set, as Beyla guesses it: gRPC on port 4317, HTTP otherwise. */
function guessProtocol(url: string): string {
  try {
    return new URL(url).port === '4317' ? 'grpc' : 'http/protobuf';
  } catch {
    return 'http/protobuf';
  }
}

/**
 * Beyla's OTLP endpoints, resolved as Beyla does: the signal's variable
 * (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, which overrides `otel_traces_export.endpoint`) used as it
 * is, else the common `OTEL_EXPORTER_OTLP_ENDPOINT` plus `/v1/traces`. gRPC is refused: the relay
 * speaks OTLP/HTTP only.
 */
export function planOtlpRelay(input: OtlpRelayPlanInput): OtlpRelayPlan {
  const upstream: Partial<Record<RelaySignal, string>> = {};
  const common = text(input.env.OTEL_EXPORTER_OTLP_ENDPOINT);
  for (const signal of SIGNALS) {
    const upper = signal.toUpperCase();
    const own = section(input.config, CONFIG_KEY[signal]);
    const specific = text(input.env[`OTEL_EXPORTER_OTLP_${upper}_ENDPOINT`]) ?? text(own.endpoint);
    const url = specific ?? (common ? `${common.replace(/\/+$/, '')}/v1/${signal}` : undefined);
    if (!url) continue;
    const protocol = text(input.env[`OTEL_EXPORTER_OTLP_${upper}_PROTOCOL`]) ?? text(own.protocol) ?? text(input.env.OTEL_EXPORTER_OTLP_PROTOCOL) ?? guessProtocol(url);
    if (protocol === 'debug') continue; // printed by Beyla, nothing sent
    if (protocol === 'grpc') {
      return {
        kind: 'refused',
        message: `Beyla's OTLP ${signal} export to ${url} uses gRPC; coral-agent relays OTLP over HTTP only (so that two Beyla generations never export the same data twice)`,
        hint: `set OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf in agent.beyla.env (or ${CONFIG_KEY[signal]}.protocol: http/protobuf in agent.beyla.config) and point the endpoint at the collector's OTLP/HTTP port (4318 by default)`,
      };
    }
    if (!/^https?:\/\//i.test(url)) {
      return { kind: 'refused', message: `Beyla's OTLP ${signal} endpoint '${url}' is not an http:// or https:// URL`, hint: 'write the endpoint as a full URL, e.g. http://collector:4318' };
    }
    upstream[signal] = url;
  }
  return Object.keys(upstream).length === 0 ? { kind: 'none' } : { kind: 'relay', upstream };
}

/** The environment that points one instance at its relay endpoint (`base` = http://127.0.0.1:PORT/g/<generation>); it overrides the config file's endpoints. */
export function relayInstanceEnv(plan: OtlpRelayPlan, base: string): Record<string, string> {
  if (plan.kind !== 'relay') return {};
  const env: Record<string, string> = { OTEL_EXPORTER_OTLP_ENDPOINT: base };
  for (const signal of SIGNALS) {
    if (plan.upstream[signal]) env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`] = `${base}/v1/${signal}`;
  }
  return env;
}
