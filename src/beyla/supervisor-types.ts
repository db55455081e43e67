// The Beyla supervisor's public shapes: apply outcomes, status, options.
import type { Registry } from 'prom-client';
import type { BeylaSettings } from '../config/types.js';
import type { SupervisorTiming } from '../lifecycle/timing.js';
import type { ApplyResult, SupervisorState, SwapRecord } from '../lifecycle/types.js';
import type { Logger } from '../log.js';
import type { InstancePorts } from '../plan/render-beyla-config.js';
import type { ServiceCoverage } from './service-coverage.js';

export type { ApplyResult, SupervisorState, SwapRecord, SupervisorTiming };

export interface ApplyOutcome {
  result: ApplyResult;
  /** Generation of the active instance after this request (0: none yet). */
  generation: number;
  /** Ports the active instance instruments after this request ("" when none). */
  portsString: string;
  error?: string;
  /** From the request to its outcome. */
  durationMs: number;
  /** From the decision to swap to the candidate process spawned (the agent's own overhead), when one was spawned. */
  spawnMs?: number;
}

export interface InstanceStatus {
  generation: number;
  pid: number | null;
  /** `survivor`: left by a previous agent, not adopted; it runs until an instance of ours is ready. */
  role: 'active' | 'candidate' | 'stopping' | 'survivor';
  ports: InstancePorts;
  startedAt: string;
  configFile: string;
  /** Beyla's version from its first log line, once printed. */
  version?: string;
  /** Left running by a previous agent and adopted (its output is read from its FIFOs: see adopted-instance.ts). */
  adopted?: true;
}

/** A candidate's way to taking over: "candidate 7: 3 of 5 processes instrumented, 12 s". */
export interface HandoverProgress {
  generation: number;
  instrumented: number;
  expected: number;
  /** "api pid 4121 port 8080" for each process still missing. */
  missing: string[];
  elapsedMs: number;
}

export interface SupervisorStatus {
  state: SupervisorState;
  /** Generation of the active instance (0: none). */
  generation: number;
  /** Resolved binary path, or the configured name while it is not found. */
  binary: string;
  reason?: string;
  instances: InstanceStatus[];
  lastSwap?: SwapRecord;
  consecutiveCrashes: number;
  circuitOpen: boolean;
  portsString: string;
  /** The first instance was promoted at the readiness deadline without instrumenting these ("api pid 4121 port 8080 not instrumented after 45 s"). */
  promotedAtDeadline?: { generation: number; missing: string[] };
  /** While a candidate is being probed with handover readiness. */
  handover?: HandoverProgress;
  /** Per configured service: listening pids and those the active generation instruments (as of the last scrape or status refresh). */
  services?: ServiceCoverage[];
}

export interface BeylaSupervisorOptions {
  settings: BeylaSettings;
  /** Where each generation's beyla-<N>.yaml is written (mode 0600). */
  runtimeDir: string;
  logger: Logger;
  registry: Registry;
  /** The agent's own ports (metrics listen...): never instrumented. */
  excludePorts: number[];
  /** Inherited environment for Beyla before scrubbing; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Called with the new status on every state change (also emitted as 'state'). */
  onState?: (status: SupervisorStatus) => void;
  timing?: Partial<SupervisorTiming>;
  /** Told when a ready candidate is about to replace the active instance, both still running (counter continuity scrapes both then). */
  onPromote?: (from: PromotedExport, to: PromotedExport) => Promise<void>;
  /** Environment added to one generation's Beyla (its OTLP relay endpoint). */
  instanceEnv?: (generation: number) => Record<string, string>;
  /** Re-read the whole configuration now (the agent has file descriptors again after running out). */
  onResync?: () => void;
}

export interface PromotedExport {
  generation: number;
  metricsUrl: string;
}

export interface BeylaSupervisorEvents {
  state: [status: SupervisorStatus];
}
