// One running Beyla process: spawned in its own process group with SIGHUP ignored, parsed log lines into a child logger, fatal-line and exit tracking, stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import type { InstancePorts } from '../plan/render-beyla-config.js';
import { LogRateLimit, type LogRateLimitOptions } from './log-rate-limit.js';
import { GroupTermination, signalProcessGroup } from './group-termination.js';
import { InstrumentedProcesses } from './instrumented-processes.js';
import { parseBeylaLog, type BeylaLogRecord } from './parse-beyla-log.js';
import { splitCappedLines, type CappedLine } from './split-capped-lines.js';

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
  /** How fast Beyla's lines are forwarded into the agent's log (defaults in log-rate-limit.ts). */
  logRateLimit?: Partial<LogRateLimitOptions>;
  /** Told of each line cut at the cap and each line not forwarded (rate limit), for the metrics. */
  outputLimits?: OutputLimitCounters;
  /** The digest of the config it runs (Target.digest), for its pid record. */
  digest?: string;
}

/** Counts of Beyla's output lines the limits acted on (wired to Prometheus counters by the supervisor). */
export interface OutputLimitCounters {
  truncated(): void;
  dropped(): void;
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
  /** Started by this agent, its output read (an adopted one is not: see adopted-instance.ts). */
  readonly adopted: boolean = false;
  /** Resolves once, when the process has exited (never rejects). */
  readonly exited: Promise<BeylaExit>;
  exit: BeylaExit | null = null;
  /** What it logged as instrumented ('instrumenting process' lines), for the handover check. */
  readonly instrumented = new InstrumentedProcesses();
  fatalLine: string | null = null;
  /** Beyla's version, from its first log line (`msg="Grafana Beyla" Version=...`), once seen. */
  version: string | undefined = undefined;
  private readonly errorLines: string[] = [];
  private readonly lastLines: string[] = [];
  private readonly log: Logger;
  private readonly child: ChildProcess;
  private readonly termination: GroupTermination;
  /** The shell's line when it could not exec Beyla. */
  private execError: string | undefined;
  private readonly rateLimit: LogRateLimit;
  /** Lines not forwarded into the agent's log (rate limit): since the last report, and in all. */
  private droppedSinceReport = 0;
  droppedLines = 0;
  private readonly outputLimits: OutputLimitCounters | undefined;

  constructor(opts: BeylaInstanceOptions) {
    super();
    this.generation = opts.generation;
    this.ports = opts.ports;
    this.configFile = opts.configFile;
    this.shutdownTimeoutMs = opts.shutdownTimeoutMs;
    this.startedAt = Date.now();
    this.digest = opts.digest;
    this.rateLimit = new LogRateLimit(opts.logRateLimit);
    this.outputLimits = opts.outputLimits;
    // detached: setsid(), so Beyla leads its own process group and everything it starts is in it.
    this.child = spawn('/bin/sh', ['-c', EXEC_SCRIPT, EXEC_NAME, opts.binary, '-config', opts.configFile], {
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.pid = this.child.pid;
    this.log = opts.logger.child({ component: 'beyla', generation: opts.generation, instance_pid: this.pid });
    // Its group's id is Beyla's pid. Signalling it is safe after Beyla has been reaped: the kernel
    // does not reuse a pid while a process group of that id still has members.
    const pid = this.pid;
    this.termination = new GroupTermination((signal) => { if (pid !== undefined) signalProcessGroup(pid, signal, this.log, 'Beyla'); }, this.log, 'Beyla');
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
      // Nothing an instance started outlives it: the rest of its process group goes too.
      this.termination.exited();
      let drainTimer: NodeJS.Timeout | undefined;
      await Promise.race([outputDone, new Promise((resolveDrain) => { drainTimer = setTimeout(resolveDrain, OUTPUT_DRAIN_MS); })]);
      clearTimeout(drainTimer);
      for (const stream of streams) stream?.destroy(); // a process outside the group may still hold them
      this.reportDropped();
      const execFailed = result.code !== null && EXEC_FAILED_CODES.has(result.code) && this.execError !== undefined;
      const spawnError = result.spawnError ?? (execFailed ? this.execError : undefined);
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

  /** Reads a stream line by line (each line capped); resolves when it has ended. */
  private follow(stream: Readable | null, name: 'stdout' | 'stderr'): Promise<void> {
    if (!stream) return Promise.resolve();
    return splitCappedLines({ stream, onLine: (line) => this.onLine(line, name) });
  }

  private onLine(line: CappedLine, stream: 'stdout' | 'stderr'): void {
    const { text: raw, truncated } = line;
    if (truncated > 0) this.outputLimits?.truncated();
    if (raw.trim() === '') return;
    // Read before any rate limit: the handover check depends on every one of these lines.
    if (raw.includes('instrumenting process')) {
      const record = parseBeylaLog(raw);
      if (record.msg === 'instrumenting process') this.instrumented.add(record.fields, Date.now());
    }
    if (stream === 'stderr' && this.execError === undefined && raw.startsWith(`${EXEC_NAME}: `)) {
      this.execError = raw.slice(EXEC_NAME.length + 2).replace(/^\d+: exec: /, '');
    }
    if (!this.rateLimit.take(raw.length)) {
      // Not forwarded, but a fatal or error line still counts: a cheap look first, a parse only then.
      this.droppedSinceReport += 1;
      this.droppedLines += 1;
      this.outputLimits?.dropped();
      this.lastLines.push(raw.slice(0, 500));
      if (this.lastLines.length > KEPT_LINES) this.lastLines.shift();
      if (/level=(?:ERROR|FATAL)|^panic:/i.test(raw) || FATAL_PATTERNS.some((pattern) => pattern.test(raw))) this.note(parseBeylaLog(raw), raw);
      return;
    }
    this.reportDropped();
    const record: BeylaLogRecord = parseBeylaLog(raw);
    if (this.version === undefined && record.msg === 'Grafana Beyla' && record.fields.version) this.version = record.fields.version;
    this.log[record.level]({ ...record.fields, stream, ...(record.structured ? {} : { raw: true }), ...(truncated > 0 ? { truncated } : {}) }, record.msg);
    this.lastLines.push(this.textOf(record));
    if (this.lastLines.length > KEPT_LINES) this.lastLines.shift();
    this.note(record, raw);
  }

  private textOf(record: BeylaLogRecord): string {
    return record.structured ? `${record.msg}${record.fields.error ? `: ${record.fields.error}` : ''}` : record.msg;
  }

  /** Keeps error lines for reports and emits 'fatal' for the first fatal one. */
  private note(record: BeylaLogRecord, raw: string): void {
    const text = this.textOf(record);
    if (record.level === 'error' || record.level === 'fatal' || /^panic:/.test(raw)) {
      this.errorLines.push(text);
      if (this.errorLines.length > KEPT_LINES) this.errorLines.shift();
    }
    if (this.fatalLine === null && FATAL_PATTERNS.some((pattern) => pattern.test(record.msg))) {
      this.fatalLine = text;
      this.emit('fatal', text);
    }
  }

  /** One line saying how many of Beyla's lines were not forwarded since the last such line. */
  private reportDropped(): void {
    if (this.droppedSinceReport === 0) return;
    this.log.warn({ dropped_lines: this.droppedSinceReport, dropped_lines_total: this.droppedLines }, 'Beyla log lines dropped: over the forwarding rate limit');
    this.droppedSinceReport = 0;
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
    if (!this.exit) this.termination.stop(graceMs);
    return this.exited;
  }

  /** SIGKILL to the process group now; resolves when Beyla has exited. */
  kill(): Promise<BeylaExit> {
    if (!this.exit) this.termination.kill();
    return this.exited;
  }
}
