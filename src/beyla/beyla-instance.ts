// One running Beyla process: spawned in its own process group with SIGHUP ignored, its output (FIFOs, else pipes) read by BeylaOutput, exit tracking, stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import type { InstancePorts } from '../plan/render-beyla-config.js';
import type { LogRateLimitOptions } from './log-rate-limit.js';
import { BeylaOutput, type OutputLimitCounters } from './beyla-output.js';
import { GroupTermination, signalProcessGroup } from './group-termination.js';
import { openBeylaEnds, openReadEnd, type OutputFifos } from './output-fifos.js';

export { FATAL_PATTERNS, type OutputLimitCounters } from './beyla-output.js';

/** After the process has exited, how long its last output lines may take to be read. */
export const OUTPUT_DRAIN_MS = 1000;
/**
 * Beyla is exec'd by /bin/sh after `trap '' HUP`: a Go program started with SIGHUP ignored keeps
 * it ignored, so a HUP sent to the whole cgroup (`systemctl kill -s HUP`) cannot kill it (Node
 * cannot spawn with a signal ignored: its child resets every disposition before exec). `$0` names
 * the shell in its own error line, so a failed exec can be told from Beyla's output.
 */
const EXEC_NAME = 'coral-agent-exec-beyla';
const EXEC_SCRIPT = 'trap "" HUP; exec "$@"';
/** The shell's exit codes for a command it could not exec (not executable; not found). */
const EXEC_FAILED_CODES = new Set([126, 127]);

export interface BeylaExit {
  code: number | null;
  signal: string | null;
  /** Set when the process could not be started at all (ENOENT, EACCES...). */
  spawnError?: string;
  /** Whether the agent asked for this exit (stop/kill). */
  requested: boolean;
  at: number;
}

export interface BeylaInstanceOptions {
  binary: string;
  configFile: string;
  generation: number;
  ports: InstancePorts;
  env: Record<string, string>;
  /** The shutdown_timeout this instance's config gives Beyla; stopping waits this plus a margin. */
  shutdownTimeoutMs: number;
  logger: Logger;
  /** How fast Beyla's lines are forwarded into the agent's log (defaults in log-rate-limit.ts). */
  logRateLimit?: Partial<LogRateLimitOptions>;
  /** Told of each line cut at the cap and each line not forwarded (rate limit), for the metrics. */
  outputLimits?: OutputLimitCounters;
  /** The digest of the config it runs (Target.digest), for its pid record. */
  digest?: string;
  /**
   * The FIFOs (output-fifos.ts) to give Beyla as stdout and stderr, so that its output outlives this
   * agent and the next one can read it; without them (or when they cannot be opened), pipes.
   */
  output?: OutputFifos;
}

export interface BeylaInstanceEvents {
  fatal: [line: string];
}

/** Emits 'fatal' (the Beyla line) once for the first fatal line it prints. */
export class BeylaInstance extends EventEmitter<BeylaInstanceEvents> {
  readonly generation: number;
  readonly ports: InstancePorts;
  readonly configFile: string;
  readonly shutdownTimeoutMs: number;
  readonly startedAt: number;
  readonly pid: number | undefined;
  readonly digest: string | undefined;
  /** Started by this agent (an adopted one was started by a previous agent: see adopted-instance.ts). */
  readonly adopted: boolean = false;
  /** Resolves once, when the process has exited (never rejects). */
  readonly exited: Promise<BeylaExit>;
  exit: BeylaExit | null = null;
  private readonly output: BeylaOutput;
  private readonly log: Logger;
  private readonly child: ChildProcess;
  private readonly termination: GroupTermination;

  constructor(opts: BeylaInstanceOptions) {
    super();
    this.generation = opts.generation;
    this.ports = opts.ports;
    this.configFile = opts.configFile;
    this.shutdownTimeoutMs = opts.shutdownTimeoutMs;
    this.startedAt = Date.now();
    this.digest = opts.digest;
    const fifos = opts.output ? openFifos(opts.output, opts.logger) : undefined;
    // detached: setsid(), so Beyla leads its own process group and everything it starts is in it.
    try {
      this.child = spawn('/bin/sh', ['-c', EXEC_SCRIPT, EXEC_NAME, opts.binary, '-config', opts.configFile], {
        env: opts.env,
        stdio: ['ignore', ...(fifos?.beyla ?? ['pipe', 'pipe'] as const)],
        detached: true,
      });
    } finally {
      for (const fd of fifos?.beyla ?? []) closeSync(fd); // Beyla has its own copies now
    }
    this.pid = this.child.pid;
    this.log = opts.logger.child({ component: 'beyla', generation: opts.generation, instance_pid: this.pid });
    this.output = new BeylaOutput({
      log: this.log, execName: EXEC_NAME, onFatal: (line) => this.emit('fatal', line),
      ...(opts.logRateLimit ? { logRateLimit: opts.logRateLimit } : {}), ...(opts.outputLimits ? { outputLimits: opts.outputLimits } : {}),
    });
    // Its group's id is Beyla's pid. Signalling it is safe after Beyla has been reaped: the kernel
    // does not reuse a pid while a process group of that id still has members.
    const pid = this.pid;
    this.termination = new GroupTermination((signal) => { if (pid !== undefined) signalProcessGroup(pid, signal, this.log, 'Beyla'); }, this.log, 'Beyla');
    const streams: Array<Readable | null> = fifos ? fifos.agent : [this.child.stdout, this.child.stderr];
    const outputDone = Promise.all([this.output.follow(streams[0] ?? null, 'stdout'), this.output.follow(streams[1] ?? null, 'stderr')]);
    // The exit is the process's, not its output's: a child holding it open must not hide it.
    const processExit = new Promise<{ code: number | null; signal: string | null; spawnError?: string }>((resolveExit) => {
      this.child.once('exit', (code, signal) => resolveExit({ code, signal }));
      this.child.once('error', (error) => {
        if (this.pid === undefined) resolveExit({ code: null, signal: null, spawnError: error.message });
        else this.log.error({ err: error }, 'Beyla process error');
      });
    });
    this.exited = processExit.then(async (result) => {
      // Nothing an instance started outlives it: the rest of its process group goes too.
      this.termination.exited();
      let drainTimer: NodeJS.Timeout | undefined;
      await Promise.race([outputDone, new Promise((resolveDrain) => { drainTimer = setTimeout(resolveDrain, OUTPUT_DRAIN_MS); })]);
      clearTimeout(drainTimer);
      for (const stream of streams) stream?.destroy(); // a process outside the group may still hold them
      this.output.reportDropped();
      const execError = this.output.execError;
      const execFailed = result.code !== null && EXEC_FAILED_CODES.has(result.code) && execError !== undefined;
      const spawnError = result.spawnError ?? (execFailed ? execError : undefined);
      this.exit = {
        code: result.code,
        signal: result.signal,
        ...(spawnError === undefined ? {} : { spawnError }),
        requested: this.termination.requested,
        at: Date.now(),
      };
      return this.exit;
    });
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** What it logged as instrumented ('instrumenting process' lines), for the handover check. */
  get instrumented(): BeylaOutput['instrumented'] {
    return this.output.instrumented;
  }

  get fatalLine(): string | null {
    return this.output.fatalLine;
  }

  /** Beyla's version, from its first log line (`msg="Grafana Beyla" Version=...`), once seen. */
  get version(): string | undefined {
    return this.output.version;
  }

  /** Lines not forwarded into the agent's log (rate limit), in all. */
  get droppedLines(): number {
    return this.output.droppedLines;
  }

  /** The last few ERROR lines Beyla printed, oldest first. */
  recentErrors(): string[] {
    return this.output.recentErrors();
  }

  /** Beyla's own words for what went wrong: its fatal line, else its last error line. */
  beylaError(): string | undefined {
    return this.output.beylaError();
  }

  /** The last line it printed, whatever its level. */
  lastLine(): string | undefined {
    return this.output.lastLine();
  }

  /** "exited with code 255", "killed by SIGKILL", "could not start: ...". */
  describeExit(): string {
    const exit = this.exit;
    if (!exit) return 'running';
    if (exit.spawnError) return `could not start: ${exit.spawnError}`;
    if (exit.signal) return `killed by ${exit.signal}`;
    return `exited with code ${exit.code}`;
  }

  /**
   * SIGTERM to Beyla's process group, then SIGKILL to it after `graceMs`; resolves when Beyla has
   * exited (the rest of its group is SIGKILLed then). Never SIGHUP.
   */
  stop(graceMs: number): Promise<BeylaExit> {
    if (!this.exit) this.termination.stop(graceMs);
    return this.exited;
  }

  /** SIGKILL to the process group now; resolves when Beyla has exited. */
  kill(): Promise<BeylaExit> {
    if (!this.exit) this.termination.kill();
    return this.exited;
  }
}

/** Beyla's ends (fd 1 and 2 to be) and the agent's read ends of the FIFOs; undefined (pipes then) when they cannot be opened. */
function openFifos(paths: OutputFifos, log: Logger): { beyla: [number, number]; agent: [Readable, Readable] } | undefined {
  let beyla: [number, number] | undefined;
  try {
    beyla = openBeylaEnds(paths);
    const out = openReadEnd(paths.stdout);
    try {
      return { beyla, agent: [out, openReadEnd(paths.stderr)] };
    } catch (error) {
      out.destroy();
      throw error;
    }
  } catch (error) {
    for (const fd of beyla ?? []) closeSync(fd);
    log.warn({ err: error, fifos: paths }, 'cannot open the Beyla output FIFOs: its output goes through pipes, and a Beyla left by this agent if it dies cannot be read (a real Beyla then dies of SIGPIPE at its next log line)');
    return undefined;
  }
}
