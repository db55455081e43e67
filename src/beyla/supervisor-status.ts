// supervisorStatus: the supervisor's SupervisorStatus (machine, instances, coverage, handover), and the signature that says when it changed.
import type { LifecycleState } from '../lifecycle/types.js';
import type { BeylaProcess } from './beyla-process.js';
import { describeStatus } from './describe-status.js';
import type { ServiceCoverage } from './service-coverage.js';
import type { HandoverProgress, SupervisorStatus } from './supervisor-types.js';

export interface StatusSources {
  machine: LifecycleState;
  instances: ReadonlyMap<number, BeylaProcess>;
  binary: string;
  /** Handover progress of candidates being probed, by generation. */
  handover: ReadonlyMap<number, HandoverProgress>;
}

/** The status with copies of the last coverage read and of the candidate's handover progress. */
export function supervisorStatus(sources: StatusSources, coverage: ServiceCoverage[]): SupervisorStatus {
  const status = describeStatus(sources.machine, sources.instances, sources.binary);
  const candidate = status.instances.find((i) => i.role === 'candidate');
  const progress = candidate ? sources.handover.get(candidate.generation) : undefined;
  const withCoverage = { ...status, services: coverage.map((c) => ({ ...c, listeners: c.listeners.map((l) => ({ ...l, ports: [...l.ports] })) })) };
  return progress ? { ...withCoverage, handover: { ...progress, missing: [...progress.missing] } } : withCoverage;
}

/**
 * A string that changes when the status does. Built after every event (a liveness probe every few
 * seconds), so it holds the machine's own status and a coverage version, not every service's
 * coverage: with 20,000 services that copy and its JSON were most of the idle agent's work.
 */
export function statusSignature(sources: StatusSources, coverageVersion: number): string {
  const { instances, ...rest } = describeStatus(sources.machine, sources.instances, sources.binary);
  const candidate = instances.find((i) => i.role === 'candidate');
  const progress = candidate ? sources.handover.get(candidate.generation) : undefined;
  return JSON.stringify({
    ...rest, coverage: coverageVersion, handover: progress ? [progress.instrumented, progress.expected] : null, instances: instances.map((i) => [i.generation, i.role]),
  });
}
