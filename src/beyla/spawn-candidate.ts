// Starts one candidate Beyla: fresh loopback ports, its rendered config file, its output FIFOs, and the process.
import { CoralError } from '../errors.js';
import type { Target } from '../lifecycle/types.js';
import type { Logger } from '../log.js';
import { renderBeylaConfig, type InstancePorts } from '../plan/render-beyla-config.js';
import { BeylaInstance, type OutputLimitCounters } from './beyla-instance.js';
import { createOutputFifos } from './output-fifos.js';
import { pickFreePorts } from './pick-free-ports.js';
import { scrubEnv } from './scrub-env.js';
import { writeConfigFile } from './write-config-file.js';

export interface SpawnCandidateOptions {
  generation: number;
  target: Target;
  runtimeDir: string;
  /** The agent's own ports plus every live instance's: never picked, never instrumented. */
  excludePorts: number[];
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Added to this instance's environment last (the OTLP relay endpoint of its generation). */
  extraEnv?: Record<string, string>;
  /** Checked after the config file is written: true means do not start the process after all. */
  cancelled: () => boolean;
  outputLimits?: OutputLimitCounters;
}

export interface SpawnedCandidate {
  instance: BeylaInstance | null;
  /** Ports never instrumented by this instance (for the readiness check). */
  excludePorts: number[];
  configFile: string;
  portsString: string;
}

export async function spawnCandidate(opts: SpawnCandidateOptions): Promise<SpawnedCandidate> {
  const { generation, target } = opts;
  // Never a port a service is configured on: it may be booting, and would find its port taken.
  const [metrics = 0, health = 0, internal = 0] = await pickFreePorts(3, { avoid: opts.excludePorts, avoidRanges: target.desired.ports });
  const ports: InstancePorts = { metrics, health, internal };
  const rendered = renderBeylaConfig({ desired: target.desired, settings: target.settings, instancePorts: ports, excludePorts: opts.excludePorts });
  if (!rendered) throw new CoralError('INTERNAL', 'rendered Beyla config vanished between key and file');
  const configFile = await writeConfigFile({ runtimeDir: opts.runtimeDir, generation, yaml: rendered.yaml });
  // Its output must outlive this agent (see output-fifos.ts); without FIFOs it still runs, on pipes.
  const output = await createOutputFifos(opts.runtimeDir, generation).catch((error: unknown) => {
    opts.logger.warn({ err: error, generation }, 'cannot create the Beyla output FIFOs: its output goes through pipes (a Beyla this agent leaves behind if it dies cannot be read, and a real one dies of SIGPIPE at its next log line)');
    return undefined;
  });
  if (opts.cancelled()) return { instance: null, excludePorts: opts.excludePorts, configFile, portsString: rendered.portsString };
  const instance = new BeylaInstance({
    binary: target.binary,
    configFile,
    generation,
    ports,
    env: { ...scrubEnv(opts.env, target.settings.env), ...opts.extraEnv },
    shutdownTimeoutMs: target.settings.shutdownTimeoutMs,
    logger: opts.logger,
    ...(output ? { output } : {}),
    ...(opts.outputLimits ? { outputLimits: opts.outputLimits } : {}),
    // An instance that exports through this agent's OTLP relay (its extra env) needs this agent: never adopted by the next one.
    ...(Object.keys(opts.extraEnv ?? {}).length === 0 ? { digest: target.digest } : {}),
  });
  return { instance, excludePorts: opts.excludePorts, configFile, portsString: rendered.portsString };
}
