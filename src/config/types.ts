// The typed configuration model: what coral.yaml and the drop-ins mean once validated.

/** A place in a source file; line and col are 1-based. */
export interface Location {
  file: string;
  line: number;
  col: number;
}

export type Severity = 'error' | 'warning';

/** One problem found in a source, printed as `file:line:col: message`. */
export interface Diagnostic extends Location {
  severity: Severity;
  message: string;
  hint?: string;
  /** The offending key path, e.g. `agent.beyla.debounce` or `services[0].port`. */
  path?: string;
}

/** Inclusive port range; a single port has from === to. */
export interface PortRange {
  from: number;
  to: number;
}

export type HealthKind = 'tcp' | 'http' | 'none';

export interface HealthCheck {
  kind: HealthKind;
  /** HTTP path, only for kind 'http'. */
  path?: string;
  intervalMs: number;
  timeoutMs: number;
}

export interface Service {
  name: string;
  /** Sorted, merged, non-overlapping. */
  ports: PortRange[];
  /** Glob on the executable path (Beyla's `exe_path`). */
  exe?: string;
  health: HealthCheck;
  /** Protocol hint: http, grpc, sql, redis, kafka, other. */
  type?: string;
  /** Where the service is defined. */
  source: Location;
}

export type WhenEmpty = 'stop' | 'all';

export interface ReadinessSettings {
  timeoutMs: number;
  minUptimeMs: number;
  requireInstrumented: boolean;
  /** A candidate must instrument what the active instance does, and every selected listener, before it replaces it (default true). */
  handover?: boolean;
}

export interface BeylaSettings {
  enabled: boolean;
  /** Path or bare name looked up on PATH. */
  binary: string;
  debounceMs: number;
  maxWaitMs: number;
  readiness: ReadinessSettings;
  shutdownTimeoutMs: number;
  whenEmpty: WhenEmpty;
  /** Extra Beyla YAML passed through (exporters etc.); never owns discovery or ports. */
  config: Record<string, unknown>;
  /** Explicit environment for Beyla (the inherited one is scrubbed). */
  env: Record<string, string>;
}

export interface HealthDefaults {
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failures before a service is reported down. */
  unhealthyThreshold: number;
  /** Consecutive successes before a down service is reported up again. */
  healthyThreshold: number;
}

export interface AgentSettings {
  /** Absolute path of the main file. */
  configPath: string;
  /** Absolute path of the drop-in directory. */
  servicesDir: string;
  /** Where rendered Beyla configs live (systemd's RuntimeDirectory). */
  runtimeDir: string;
  startupTimeoutMs: number;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  beyla: BeylaSettings;
  metrics: { listen: string; continuity: boolean };
  control: { socket: string };
  health: HealthDefaults;
  /** Resync period for the watcher (lost events). */
  resyncMs: number;
}

export type OriginKind = 'default' | 'file' | 'env' | 'flag';

/** Where an effective setting came from. */
export interface Origin {
  kind: OriginKind;
  /** file: path; env: variable name; flag: flag name. */
  name?: string;
  line?: number;
  col?: number;
}

/** The result of reading one source file. */
export type FileResult =
  | { file: string; ok: true; services: Service[]; warnings: Diagnostic[] }
  | { file: string; ok: false; errors: Diagnostic[] };

/** Per-file state in a snapshot. */
export interface FileState {
  file: string;
  /** 'valid': current content in effect; 'stale': invalid now, last good content kept; 'rejected': invalid, never good. */
  status: 'valid' | 'stale' | 'rejected';
  /** Services this file contributes (last good content for 'stale'). */
  services: Service[];
  errors: Diagnostic[];
}

/** A typed, validated view of the whole configuration at one moment. */
export interface Snapshot {
  settings: AgentSettings;
  origins: Record<string, Origin>;
  /** Effective services after merge: name-unique, port-unique, sorted by name. */
  services: Service[];
  /** Keyed by file path: the main file first, then drop-ins in lexical order. */
  files: FileState[];
  diagnostics: Diagnostic[];
}
