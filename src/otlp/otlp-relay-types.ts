// The OTLP relay's public types: signals, upstream targets, the options startOtlpRelay takes and the OtlpRelay it returns.
import type { Logger } from '../log.js';
import type { Registry } from 'prom-client';

export type OtlpSignal = 'traces' | 'metrics' | 'logs';

/** Where one signal goes: the full URL and, for https, the TLS material as PEM text. */
export interface UpstreamTarget {
  url: string;
  ca?: string;
  cert?: string;
  key?: string;
  /** otel_*_export.insecure_skip_verify: do not verify the collector's certificate. */
  insecureSkipVerify?: boolean;
}

export interface OtlpRelayOptions {
  /** Upstream per signal (e.g. https://collector:4318/v1/traces); a signal without one answers 404. */
  upstream: Partial<Record<OtlpSignal, UpstreamTarget>>;
  registry: Registry;
  logger: Logger;
  /** Request bodies being forwarded at once, by declared length (a body without one counts as maxBodyBytes). Default 32 MiB. */
  maxInFlightBytes?: number;
  /** Largest body accepted (413 above), also once decompressed. Default 8 MiB. */
  maxBodyBytes?: number;
  /** Deadline of one upstream exchange (504 after it). Default 10 s. */
  upstreamTimeoutMs?: number;
  now?: () => number;
}

export interface OtlpRelay {
  port: number;
  /** The OTLP base endpoint for an instance: its requests go to `<base>/v1/<signal>`. */
  endpointFor(generation: number): string;
  /** The promotion moment (both alive, the candidate proven): items from the cut on are the new generation's. */
  cut(from: number, to: number): void;
  /** The supervisor's view after each change: the active generation (0: none) and the generations running. */
  observe(active: number, running: readonly number[]): void;
  /** New upstreams (a changed configuration); requests already forwarded finish on the old ones. */
  setUpstream(upstream: Partial<Record<OtlpSignal, UpstreamTarget>>): void;
  /** Bytes of request bodies being forwarded now. */
  inFlightBytes(): number;
  close(): Promise<void>;
}
