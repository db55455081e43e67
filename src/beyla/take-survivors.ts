// At start: the Beyla instances a killed agent left on this runtime dir, supervised (not stopped) and reported to the lifecycle as survivors.
import type { LifecycleEvent } from '../lifecycle/types.js';
import type { Logger } from '../log.js';
import { AdoptedInstance } from './adopted-instance.js';
import type { OutputLimitCounters } from './beyla-output.js';
import type { BeylaProcess } from './beyla-process.js';
import { fifosHeldBy } from './output-fifos.js';
import { stopOrphans } from './stop-orphans.js';

export interface TakeSurvivorsOptions {
  runtimeDir: string;
  /** For records the sweep still stops itself (an instance that survived SIGKILL...). */
  graceMs: number;
  logger: Logger;
  /** What each adopted instance's logger is made from (the root logger, as for a spawned one); defaults to `logger`. */
  beylaLogger?: Logger;
  signal: AbortSignal;
  /** Follows each survivor to its exit, as for any instance. */
  track: (instance: BeylaProcess) => void;
  outputLimits?: OutputLimitCounters;
}

/**
 * Cleans up records of instances that are gone (or whose pid now names another process), and
 * leaves every live, verified one running: each becomes an AdoptedInstance the supervisor follows,
 * reading its output FIFOs when they are its stdout and stderr.
 * The lifecycle then adopts the one running the desired config, and stops the others once an
 * instance of ours is ready (make-before-break). Never throws: a failure is logged, no survivors.
 */
export async function takeSurvivors(opts: TakeSurvivorsOptions): Promise<LifecycleEvent> {
  const survivors: Array<{ generation: number; pid: number; digest: string | null }> = [];
  try {
    const found = await stopOrphans({ runtimeDir: opts.runtimeDir, graceMs: opts.graceMs, logger: opts.logger, signal: opts.signal, keepAlive: true });
    for (const r of found.filter((f) => f.action === 'survivor')) {
      const output = await fifosHeldBy(opts.runtimeDir, r.generation, r.pid);
      if (!output) opts.logger.warn({ generation: r.generation, pid: r.pid }, 'a Beyla left by a previous agent has no output FIFOs (started with pipes): nothing it prints can be read');
      opts.track(new AdoptedInstance({
        generation: r.generation, pid: r.pid, startTime: r.startTime, ports: r.ports ?? { metrics: 0, health: 0, internal: 0 },
        configFile: r.configFile, digest: r.digest, logger: opts.beylaLogger ?? opts.logger,
        ...(output ? { output } : {}), ...(opts.outputLimits ? { outputLimits: opts.outputLimits } : {}),
      }));
      survivors.push({ generation: r.generation, pid: r.pid, digest: r.ports && r.digest ? r.digest : null });
    }
    if (found.length > 0) opts.logger.info({ records: found.length, survivors: survivors.map((s) => s.pid), reports: found }, `${survivors.length} Beyla left by a previous agent still running`);
  } catch (error) {
    opts.logger.error({ err: error, runtime_dir: opts.runtimeDir }, 'could not look for Beyla processes left by a previous agent');
  }
  return { type: 'survivors', at: Date.now(), survivors };
}
