// A Beyla left running by a previous agent, supervised without being its parent: output read from its FIFOs, exit seen by polling /proc, stop by signalling its process group.
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import type { InstancePorts } from '../plan/render-beyla-config.js';
import { OUTPUT_DRAIN_MS, type BeylaExit, type BeylaInstanceEvents } from './beyla-instance.js';
import { BeylaOutput, type OutputLimitCounters } from './beyla-output.js';
import { GroupTermination, signalProcessGroup } from './group-termination.js';
import { openReadEnd, type OutputFifos } from './output-fifos.js';
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
  /** Its output FIFOs, when they are its fd 1 and 2 (fifosHeldBy); without them nothing it prints can be read. */
  output?: OutputFifos;
  outputLimits?: OutputLimitCounters;
}

/**
 * Same surface as BeylaInstance. Its stdout and stderr are the FIFOs the previous agent made, which
 * Beyla itself holds open: this agent opens them by path and reads them as for an instance it
 * spawned (capped lines, rate-limited forwarding, fatal lines, version, `instrumenting process`
 * lines into `instrumented`, which also holds what the adoption check saw). It first reads what
 * Beyla printed while no agent ran (up to 64 KiB; a line the dead agent had half read comes cut).
 * An instance started by an agent that gave it pipes has no FIFOs: nothing it prints is read (a
 * real Beyla dies of SIGPIPE at its next line). Its exit code is unknown (`code` and `signal` null).
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
  exit: BeylaExit | null = null;
  private readonly output: BeylaOutput;
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
    this.output = new BeylaOutput({ log: this.log, onFatal: (line) => this.emit('fatal', line), ...(opts.outputLimits ? { outputLimits: opts.outputLimits } : {}) });
    const streams = opts.output ? this.openOutput(opts.output) : [];
    const outputDone = Promise.all(streams.map((stream, i) => this.output.follow(stream, i === 0 ? 'stdout' : 'stderr')));
    // A SIGTERM only while the pid is still that process; a SIGKILL also once its group is all that is left.
    this.termination = new GroupTermination((signal) => {
      if (signal === 'SIGKILL' || this.alive()) signalProcessGroup(this.pid, signal, this.log, 'an adopted Beyla');
    }, this.log, 'adopted Beyla');
    this.exited = new Promise((resolveExit) => {
      const check = (): void => {
        if (this.poll === undefined || this.alive()) return;
        clearInterval(this.poll);
        this.poll = undefined;
        this.termination.exited(); // nothing it started outlives it
        let drainTimer: NodeJS.Timeout | undefined;
        void Promise.race([outputDone, new Promise((resolveDrain) => { drainTimer = setTimeout(resolveDrain, OUTPUT_DRAIN_MS); })]).then(() => {
          clearTimeout(drainTimer);
          for (const stream of streams) stream.destroy();
          this.output.reportDropped();
          this.exit = { code: null, signal: null, requested: this.termination.requested, at: Date.now() };
          resolveExit(this.exit);
        });
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

  /** Both read ends, or none (logged) when either cannot be opened. */
  private openOutput(paths: OutputFifos): Readable[] {
    let out: Readable | undefined;
    try {
      out = openReadEnd(paths.stdout);
      return [out, openReadEnd(paths.stderr)];
    } catch (error) {
      out?.destroy();
      this.log.warn({ err: error, fifos: paths }, 'cannot open the output FIFOs of a Beyla left by a previous agent: its output is not read');
      return [];
    }
  }

  get instrumented(): BeylaOutput['instrumented'] {
    return this.output.instrumented;
  }

  get fatalLine(): string | null {
    return this.output.fatalLine;
  }

  get version(): string | undefined {
    return this.output.version;
  }

  recentErrors(): string[] {
    return this.output.recentErrors();
  }

  beylaError(): string | undefined {
    return this.output.beylaError();
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
