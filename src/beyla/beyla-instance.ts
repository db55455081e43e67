// One running Beyla process: spawned in its own process group with SIGHUP ignored, parsed log lines into a child logger, fatal-line and exit tracking, stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import type { InstancePorts } from '../plan/render-beyla-config.js';
import { parseBeylaLog, type BeylaLogRecord } from './parse-beyla-log.js';

/** Lines that mean the instance is dead or useless even if the process lives on. */
export const FATAL_PATTERNS: readonly RegExp[] = [
  /wrong (?:Beyla )?configuration/i,
  /ended unexpectedly/i,
  /Unable to load eBPF watcher/i,
];

const KEPT_LINES = 5;
/** After the process has exited, how long its last output lines may take to be read. */
const OUTPUT_DRAIN_MS = 1000;
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
  /** Resolves once, when the process has exited (never rejects). */
  readonly exited: Promise<BeylaExit>;
  exit: BeylaExit | null = null;
  fatalLine: string | null = null;
  private readonly errorLines: string[] = [];
  private readonly lastLines: string[] = [];
  private readonly log: Logger;
  private readonly child: ChildProcess;
  private stopRequested = false;
  private killTimer: NodeJS.Timeout | undefined;
  /** The shell's line when it could not exec Beyla. */
  private execError: string | undefined;

  constructor(opts: BeylaInstanceOptions) {
    super();
    this.generation = opts.generation;
    this.ports = opts.ports;
    this.configFile = opts.configFile;
    this.shutdownTimeoutMs = opts.shutdownTimeoutMs;
    this.startedAt = Date.now();
    // detached: setsid(), so Beyla leads its own process group and everything it starts is in it.
    this.child = spawn('/bin/sh', ['-c', EXEC_SCRIPT, EXEC_NAME, opts.binary, '-config', opts.configFile], {
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.pid = this.child.pid;
    this.log = opts.logger.child({ component: 'beyla', generation: opts.generation, instance_pid: this.pid });
    const streams = [this.child.stdout, this.child.stderr];
    const outputDone = Promise.all([this.follow(this.child.stdout, 'stdout'), this.follow(this.child.stderr, 'stderr')]);
    // The exit is the process's, not its pipes': a child holding them open must not hide it.
    const processExit = new Promise<{ code: number | null; signal: string | null; spawnError?: string }>((resolveExit) => {
      this.child.once('exit', (code, signal) => resolveExit({ code, signal }));
      this.child.once('error', (error) => {
        if (this.pid === undefined) resolveExit({ code: null, signal: null, spawnError: error.message });
        else this.log.error({ err: error }, 'Beyla process error');
      });
    });
    this.exited = processExit.then(async (result) => {
      clearTimeout(this.killTimer);
      // Nothing an instance started outlives it: the rest of its process group goes too.
      this.signalGroup('SIGKILL');
      let drainTimer: NodeJS.Timeout | undefined;
      await Promise.race([outputDone, new Promise((resolveDrain) => { drainTimer = setTimeout(resolveDrain, OUTPUT_DRAIN_MS); })]);
      clearTimeout(drainTimer);
      for (const stream of streams) stream?.destroy(); // a process outside the group may still hold them
      const execFailed = result.code !== null && EXEC_FAILED_CODES.has(result.code) && this.execError !== undefined;
      const spawnError = result.spawnError ?? (execFailed ? this.execError : undefined);
      this.exit = {
        code: result.code,
        signal: result.signal,
        ...(spawnError === undefined ? {} : { spawnError }),
        requested: this.stopRequested,
        at: Date.now(),
      };
      return this.exit;
    });
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** Reads a stream line by line; resolves when it has ended. */
  private follow(stream: Readable | null, name: 'stdout' | 'stderr'): Promise<void> {
    if (!stream) return Promise.resolve();
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    lines.on('line', (line) => this.onLine(line, name));
    return new Promise((resolveClosed) => lines.once('close', () => resolveClosed()));
  }

  private onLine(line: string, stream: 'stdout' | 'stderr'): void {
    if (line.trim() === '') return;
    if (stream === 'stderr' && this.execError === undefined && line.startsWith(`${EXEC_NAME}: `)) {
      this.execError = line.slice(EXEC_NAME.length + 2).replace(/^\d+: exec: /, '');
    }
    const record: BeylaLogRecord = parseBeylaLog(line);
    const text = record.structured ? `${record.msg}${record.fields.error ? `: ${record.fields.error}` : ''}` : record.msg;
    this.log[record.level]({ ...record.fields, stream, ...(record.structured ? {} : { raw: true }) }, record.msg);
    this.lastLines.push(text);
    if (this.lastLines.length > KEPT_LINES) this.lastLines.shift();
    if (record.level === 'error' || record.level === 'fatal' || /^panic:/.test(line)) {
      this.errorLines.push(text);
      if (this.errorLines.length > KEPT_LINES) this.errorLines.shift();
    }
    if (this.fatalLine === null && FATAL_PATTERNS.some((pattern) => pattern.test(record.msg))) {
      this.fatalLine = text;
      this.emit('fatal', text);
    }
  }

  /** The last few ERROR lines Beyla printed, oldest first. */
  recentErrors(): string[] {
    return [...this.errorLines];
  }

  /** Beyla's own words for what went wrong: its fatal line, else its last error line. */
  beylaError(): string | undefined {
    return this.fatalLine ?? this.errorLines.at(-1);
  }

  /** The last line it printed, whatever its level. */
  lastLine(): string | undefined {
    return this.lastLines.at(-1);
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
    if (this.exit) return this.exited;
    this.stopRequested = true;
    this.signalGroup('SIGTERM');
    if (this.killTimer === undefined) {
      this.killTimer = setTimeout(() => {
        this.log.warn({ grace_ms: graceMs }, 'Beyla did not exit after SIGTERM: sending SIGKILL');
        this.signalGroup('SIGKILL');
      }, graceMs);
    }
    return this.exited;
  }

  /** SIGKILL to the process group now; resolves when Beyla has exited. */
  kill(): Promise<BeylaExit> {
    if (this.exit) return this.exited;
    this.stopRequested = true;
    this.signalGroup('SIGKILL');
    return this.exited;
  }

  /**
   * Signals the whole group (its id is Beyla's pid). Safe after Beyla has been reaped: the kernel
   * does not reuse a pid while a process group of that id still has members.
   */
  private signalGroup(signal: 'SIGTERM' | 'SIGKILL'): void {
    if (this.pid === undefined) return;
    try {
      process.kill(-this.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') this.log.error({ err: error, signal }, 'could not signal Beyla');
    }
  }
}
