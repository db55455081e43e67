// The driver's side of one candidate: spawn it, report spawned / ready / not-ready / fatal, and follow every instance to its exit.
import { CoralError } from '../errors.js';
import type { Effect, LifecycleEvent } from '../lifecycle/types.js';
import type { Logger } from '../log.js';
import type { BeylaInstance, OutputLimitCounters } from './beyla-instance.js';
import type { BeylaProcess } from './beyla-process.js';
import { INSTALL_HINT } from './find-beyla-binary.js';
import { instanceRecord, removeInstanceRecord } from './instance-record.js';
import { describeExpected } from './check-handover.js';
import { outputFifoPaths, removeOutputFifos } from './output-fifos.js';
import { probeReadiness, readinessFailureReason } from './probe-readiness.js';
import type { HandoverProgress } from './supervisor-types.js';
import { spawnCandidate } from './spawn-candidate.js';
import { removeConfigFile } from './write-config-file.js';

/** What the supervisor lends a candidate's run. */
export interface CandidateHost {
  readonly runtimeDir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly rootLog: Logger;
  readonly excludePorts: number[];
  readonly abort: AbortController;
  readonly instances: Map<number, BeylaProcess>;
  readonly probes: Map<number, AbortController>;
  readonly cancelled: Set<number>;
  /** Handover progress of candidates being probed, by generation (for status). */
  readonly handover: Map<number, HandoverProgress>;
  reportHandover(progress: HandoverProgress): void;
  /** The instance serving now, whose processes a candidate must take over. */
  activeInstance(): BeylaProcess | null;
  enqueue(make: () => LifecycleEvent | null | Promise<LifecycleEvent | null>): void;
  /** Awaited in the event queue just before a candidate's 'ready' event (the promotion moment). */
  beforeReady(candidate: BeylaProcess): Promise<void>;
  /** Environment added to one generation's instance. */
  instanceEnv(generation: number): Record<string, string>;
  track(instance: BeylaProcess): void;
  /** Counters of Beyla output lines cut or not forwarded. */
  readonly outputLimits: OutputLimitCounters;
}

/** Performs a 'spawn' effect; every outcome comes back as an event. */
export async function runCandidate(host: CandidateHost, effect: Extract<Effect, { type: 'spawn' }>): Promise<void> {
  const { generation, target } = effect;
  const log = host.log.child({ generation });
  const taken = [...host.instances.values()].flatMap((i) => [i.ports.metrics, i.ports.health, i.ports.internal]);
  let instance: BeylaInstance;
  let excludePorts: number[];
  try {
    const spawned = await spawnCandidate({
      generation, target, runtimeDir: host.runtimeDir, excludePorts: [...host.excludePorts, ...taken], env: host.env, logger: host.rootLog, extraEnv: host.instanceEnv(generation), outputLimits: host.outputLimits,
      cancelled: () => host.cancelled.has(generation) || host.abort.signal.aborted,
    });
    if (!spawned.instance) {
      await removeConfigFile(spawned.configFile).catch(() => undefined);
      await removeOutputFifos(outputFifoPaths(host.runtimeDir, generation)).catch(() => undefined);
      host.cancelled.delete(generation);
      host.enqueue(() => ({ type: 'spawn-failed', at: Date.now(), generation, message: `Beyla generation ${generation} was stopped before it started` }));
      return;
    }
    instance = spawned.instance;
    excludePorts = spawned.excludePorts;
    host.track(instance);
    log.info({ pid: instance.pid, config_file: spawned.configFile, ports: instance.ports, open_ports: spawned.portsString, reason: effect.reason }, 'Beyla candidate spawned');
  } catch (error) {
    const message = error instanceof CoralError ? error.format() : String(error);
    log.error({ err: error }, 'could not start a Beyla candidate');
    host.enqueue(() => ({ type: 'spawn-failed', at: Date.now(), generation, message }));
    return;
  }
  host.enqueue(() => ({ type: 'spawned', at: instance.startedAt, generation, pid: instance.pid ?? null }));
  instance.on('fatal', (line) => host.enqueue(() => ({ type: 'fatal', at: Date.now(), generation, line })));
  const probe = new AbortController();
  host.probes.set(generation, probe);
  try {
    const ready = await probeReadiness({
      instance,
      readiness: target.settings.readiness,
      selectors: target.desired.selectors,
      excludePorts,
      signal: AbortSignal.any([probe.signal, host.abort.signal]),
      handover: {
        active: host.activeInstance(),
        desired: target.desired,
        onProgress: (check, elapsedMs) => host.reportHandover({
          generation, instrumented: check.expected.length - check.missing.length, expected: check.expected.length,
          missing: check.missing.map(describeExpected), elapsedMs,
        }),
      },
    });
    host.enqueue(async () => {
      await host.beforeReady(instance);
      return { type: 'ready', at: Date.now(), generation, ...ready };
    });
  } catch (error) {
    if (probe.signal.aborted) return; // stopped on purpose: the lifecycle already knows
    const cannotRun = instance.exit?.spawnError !== undefined;
    const message = cannotRun
      ? `Beyla binary ${target.binary} cannot run: ${instance.exit?.spawnError}; ${INSTALL_HINT}`
      : error instanceof Error ? error.message : String(error);
    log.error({ err: error, beyla_error: instance.beylaError(), exit: instance.describeExit(), recent_errors: instance.recentErrors() }, 'Beyla candidate failed; the previous instance keeps serving');
    host.enqueue(() => ({ type: 'not-ready', at: Date.now(), generation, message, cannotRun, reason: readinessFailureReason(error) }));
  } finally {
    host.probes.delete(generation);
    host.handover.delete(generation);
  }
}

/** Resolves with the 'exited' event once the instance has exited and its config file, output FIFOs and pid record are gone. */
export async function trackInstance(host: CandidateHost, instance: BeylaProcess, isHung: () => boolean): Promise<LifecycleEvent> {
  const { generation, pid } = instance;
  const record = pid === undefined
    ? Promise.resolve(null)
    : instanceRecord({ runtimeDir: host.runtimeDir, generation, pid, ports: instance.ports, ...(instance.digest ? { digest: instance.digest } : {}) }).catch((error: unknown) => {
      host.log.warn({ err: error, generation, pid }, 'could not write the Beyla pid record (an orphan of this instance would not be found after an agent crash)');
      return null;
    });
  const exit = await instance.exited;
  await removeConfigFile(instance.configFile).catch((error: unknown) => {
    host.log.warn({ err: error, config_file: instance.configFile }, 'could not remove an old Beyla config');
  });
  await removeOutputFifos(outputFifoPaths(host.runtimeDir, generation)).catch((error: unknown) => {
    host.log.warn({ err: error, generation }, 'could not remove an old Beyla\'s output FIFOs');
  });
  const recordPath = await record;
  if (recordPath) {
    await removeInstanceRecord(recordPath).catch((error: unknown) => {
      host.log.warn({ err: error, record: recordPath }, 'could not remove an old Beyla pid record');
    });
  }
  if (exit.requested) host.log.info({ generation, pid, exit_code: exit.code, signal: exit.signal, hung: isHung() }, 'Beyla instance stopped');
  const beylaError = instance.beylaError(); // an error-level line only, never the last info/warn line
  return { type: 'exited', at: exit.at, generation, description: `${instance.describeExit()}${beylaError ? `: ${beylaError}` : ''}`, exitCode: exit.code, signal: exit.signal };
}
