// A Beyla left running by a previous agent, supervised without being its parent: exit seen by polling /proc, stop by signalling its process group.
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import type { InstancePorts } from '../plan/render-beyla-config.js';
import type { BeylaExit, BeylaInstanceEvents } from './beyla-instance.js';
import { GroupTermination, signalProcessGroup } from './group-termination.js';
import { InstrumentedProcesses } from './instrumented-processes.js';
import { processStartTime } from './process-start-time.js';
import { isRunning } from './stop-orphans.js';

/** How often /proc is read to notice its exit (it is not our child: no exit event, no status). */
export const ADOPTED_POLL_MS = 200;

export interface AdoptedInstanceOptions {
  generation: number;
  pid: number;
  /** Its start time (/proc/<pid>/stat field 22) when found: a pid that no longer has it is another process. */
  startTime: string | undefined;
  /** Its own ports, from its pid record; zeros when the record had none (it can then only be stopped). */
  ports: InstancePorts;
  configFile: string;
  digest: string | undefined;
  logger: Logger;
}

/**
 * Same surface as BeylaInstance. Its stdout and stderr were pipes to the agent that died, so nothing
 * it prints is read: no log forwarding, no fatal-line detection, no version, and `instrumented`
 * holds only what the adoption check saw. Its exit code is unknown (`code` and `signal` null).
 */
export class AdoptedInstance extends EventEmitter<BeylaInstanceEvents> {
  readonly generation: number;
  readonly ports: InstancePorts;
  readonly configFile: string;
  readonly startedAt = Date.now();
  readonly pid: number;
  readonly digest: string | undefined;
  readonly adopted: boolean = true;
  readonly exited: Promise<BeylaExit>;
  readonly instrumented = new InstrumentedProcesses();
  readonly version: string | undefined = undefined;
  readonly fatalLine: string | null = null;
  exit: BeylaExit | null = null;
  private readonly startTime: string | undefined;
  private readonly log: Logger;
  private poll: NodeJS.Timeout | undefined;
  private readonly termination: GroupTermination;

  constructor(opts: AdoptedInstanceOptions) {
    super();
    this.generation = opts.generation;
    this.pid = opts.pid;
    this.startTime = opts.startTime;
    this.ports = opts.ports;
    this.configFile = opts.configFile;
    this.digest = opts.digest;
    this.log = opts.logger.child({ component: 'beyla', generation: opts.generation, instance_pid: opts.pid, adopted: true });
    // A SIGTERM only while the pid is still that process; a SIGKILL also once its group is all that is left.
    this.termination = new GroupTermination((signal) => {
      if (signal === 'SIGKILL' || this.alive()) signalProcessGroup(this.pid, signal, this.log, 'an adopted Beyla');
    }, this.log, 'adopted Beyla');
    this.exited = new Promise((resolveExit) => {
      const check = (): void => {
        if (this.alive()) return;
        clearInterval(this.poll);
        this.termination.exited(); // nothing it started outlives it
        this.exit = { code: null, signal: null, requested: this.termination.requested, at: Date.now() };
        resolveExit(this.exit);
      };
      this.poll = setInterval(check, ADOPTED_POLL_MS);
      check();
    });
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** The same process still: alive, not a zombie, and (when known) the start time it was found with. */
  private alive(): boolean {
    return isRunning(this.pid) && (this.startTime === undefined || processStartTime(this.pid) === this.startTime);
  }

  recentErrors(): string[] {
    return [];
  }

  beylaError(): string | undefined {
    return undefined;
  }

  describeExit(): string {
    return this.exit ? 'exited (adopted from a previous agent: its exit status cannot be read)' : 'running';
  }

  /** SIGTERM to its process group, SIGKILL after `graceMs`; resolves when /proc no longer shows it. */
  stop(graceMs: number): Promise<BeylaExit> {
    if (!this.exit) this.termination.stop(graceMs);
    return this.exited;
  }

  kill(): Promise<BeylaExit> {
    if (!this.exit) this.termination.kill();
    return this.exited;
  }
}
