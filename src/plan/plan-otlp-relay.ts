// Whether Beyla exports OTLP, to which endpoints, and each instance's environment pointing it at the agent's relay instead.

export type RelaySignal = 'traces' | 'metrics';

export interface OtlpRelayPlanInput {
  /** agent.beyla.env */
  env: Readonly<Record<string, string>>;
  /** agent.beyla.config */
  config: Readonly<Record<string, unknown>>;
}

/** One signal's upstream: the full URL and, for https, the TLS files named by the standard variables. */
export interface PlannedUpstream {
  url: string;
  /** OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]CERTIFICATE: the CA bundle that verifies the collector. */
  caFile?: string;
  /** OTEL_EXPORTER_OTLP_[..._]CLIENT_CERTIFICATE and _CLIENT_KEY: the agent's client certificate (mutual TLS). */
  certFile?: string;
  keyFile?: string;
  /** otel_*_export.insecure_skip_verify: true in agent.beyla.config. */
  insecureSkipVerify?: boolean;
}

/** Where the setting that refused the plan is: a key of agent.beyla.env, or a path in agent.beyla.config. */
export interface PlanSource {
  in: 'env' | 'config';
  path: string[];
}

export type OtlpRelayPlan =
  | { kind: 'none' }
  | { kind: 'relay'; upstream: Partial<Record<RelaySignal, PlannedUpstream>> }
  | { kind: 'refused'; message: string; hint: string; source?: PlanSource };

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
  const upstream: Partial<Record<RelaySignal, PlannedUpstream>> = {};
  const common = text(input.env.OTEL_EXPORTER_OTLP_ENDPOINT);
  for (const signal of SIGNALS) {
    const upper = signal.toUpperCase();
    const own = section(input.config, CONFIG_KEY[signal]);
    /** The first of these that is set, with where it was set. */
    const first = (candidates: Array<[PlanSource, unknown]>): [PlanSource, string] | undefined => {
      for (const [source, value] of candidates) {
        const found = text(value);
        if (found !== undefined) return [source, found];
      }
      return undefined;
    };
    const envVar = (name: string): [PlanSource, unknown] => [{ in: 'env', path: [name] }, input.env[name]];
    const configKey = (key: string): [PlanSource, unknown] => [{ in: 'config', path: [CONFIG_KEY[signal], key] }, own[key]];
    const specific = first([envVar(`OTEL_EXPORTER_OTLP_${upper}_ENDPOINT`), configKey('endpoint')]);
    const endpoint = specific ?? (common ? [{ in: 'env', path: ['OTEL_EXPORTER_OTLP_ENDPOINT'] }, `${common.replace(/\/+$/, '')}/v1/${signal}`] as [PlanSource, string] : undefined);
    if (!endpoint) continue;
    const [endpointSource, url] = endpoint;
    const said = first([envVar(`OTEL_EXPORTER_OTLP_${upper}_PROTOCOL`), configKey('protocol'), envVar('OTEL_EXPORTER_OTLP_PROTOCOL')]);
    const [protocolSource, protocol] = said ?? [endpointSource, guessProtocol(url)];
    if (protocol === 'debug') continue; // printed by Beyla, nothing sent
    if (protocol === 'grpc') {
      return {
        kind: 'refused',
        message: `Beyla's OTLP ${signal} export to ${url} uses gRPC; coral-agent relays OTLP over HTTP only (so that two Beyla generations never export the same data twice)${said ? '' : '; Beyla assumes gRPC for port 4317 when no protocol is set'}`,
        hint: `set OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf in agent.beyla.env (or ${CONFIG_KEY[signal]}.protocol: http/protobuf in agent.beyla.config) and point the endpoint at the collector's OTLP/HTTP port (4318 by default)`,
        source: protocolSource,
      };
    }
    if (!/^https?:\/\//i.test(url)) {
      return { kind: 'refused', message: `Beyla's OTLP ${signal} endpoint '${url}' is not an http:// or https:// URL`, hint: 'write the endpoint as a full URL, e.g. http://collector:4318', source: endpointSource };
    }
    const tlsFile = (suffix: string): string | undefined => text(input.env[`OTEL_EXPORTER_OTLP_${upper}_${suffix}`]) ?? text(input.env[`OTEL_EXPORTER_OTLP_${suffix}`]);
    const caFile = tlsFile('CERTIFICATE');
    const certFile = tlsFile('CLIENT_CERTIFICATE');
    const keyFile = tlsFile('CLIENT_KEY');
    if ((certFile === undefined) !== (keyFile === undefined)) {
      const [have, missing] = certFile === undefined ? ['CLIENT_KEY', 'CLIENT_CERTIFICATE'] : ['CLIENT_CERTIFICATE', 'CLIENT_KEY'];
      return { kind: 'refused', message: `OTEL_EXPORTER_OTLP_${have} is set for the ${signal} export without OTEL_EXPORTER_OTLP_${missing}`, hint: 'a client certificate needs its key: set both, or neither', source: { in: 'env', path: [Object.keys(input.env).find((k) => k.endsWith(have)) ?? `OTEL_EXPORTER_OTLP_${have}`] } };
    }
    upstream[signal] = {
      url,
      ...(caFile ? { caFile } : {}),
      ...(certFile ? { certFile } : {}),
      ...(keyFile ? { keyFile } : {}),
      ...(own.insecure_skip_verify === true ? { insecureSkipVerify: true } : {}),
    };
  }
  return Object.keys(upstream).length === 0 ? { kind: 'none' } : { kind: 'relay', upstream };
}

/** The environment that points one instance at its relay endpoint (`base` = http://127.0.0.1:PORT/g/<generation>); it overrides the config file's endpoints. */
export function relayInstanceEnv(plan: OtlpRelayPlan, base: string): Record<string, string> {
  if (plan.kind !== 'relay') return {};
  const env: Record<string, string> = { OTEL_EXPORTER_OTLP_ENDPOINT: base };
  for (const signal of SIGNALS) {
    if (plan.upstream[signal] !== undefined) env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`] = `${base}/v1/${signal}`;
  }
  return env;
}
