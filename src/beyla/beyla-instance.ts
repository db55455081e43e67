// One running Beyla process: spawn with execa, parsed log lines into a child logger, fatal-line and exit tracking, stop.
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
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
const OUTPUT_DRAIN_MS = 1000;

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
  private readonly subprocess: ReturnType<typeof execa>;
  private stopRequested = false;
  private killTimer: NodeJS.Timeout | undefined;

  constructor(opts: BeylaInstanceOptions) {
    super();
    this.generation = opts.generation;
    this.ports = opts.ports;
    this.configFile = opts.configFile;
    this.shutdownTimeoutMs = opts.shutdownTimeoutMs;
    this.startedAt = Date.now();
    this.subprocess = execa(opts.binary, ['-config', opts.configFile], {
      env: opts.env,
      extendEnv: false,
      reject: false,
      cleanup: true,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      forceKillAfterDelay: false,
    });
    this.pid = this.subprocess.pid;
    this.log = opts.logger.child({ component: 'beyla', generation: opts.generation, instance_pid: this.pid });
    const outputDone = Promise.all([this.follow(this.subprocess.stdout, 'stdout'), this.follow(this.subprocess.stderr, 'stderr')]);
    // Resolves after the last output line has been read (so a failure report can quote it), or
    // shortly after the exit if a leftover grandchild keeps the pipes open.
    const settled = this.subprocess.then((result) => Promise.race([
      outputDone.then(() => result),
      delay(OUTPUT_DRAIN_MS, result, { ref: false }),
    ]));
    this.exited = settled.then((result) => {
      clearTimeout(this.killTimer);
      const spawnFailed = this.pid === undefined;
      this.exit = {
        code: typeof result.exitCode === 'number' ? result.exitCode : null,
        signal: result.signal ?? null,
        ...(spawnFailed ? { spawnError: result.originalMessage || result.shortMessage } : {}),
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

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. Never SIGHUP. */
  stop(graceMs: number): Promise<BeylaExit> {
    if (this.exit) return this.exited;
    this.stopRequested = true;
    this.signal('SIGTERM');
    if (this.killTimer === undefined) {
      this.killTimer = setTimeout(() => {
        this.log.warn({ grace_ms: graceMs }, 'Beyla did not exit after SIGTERM: sending SIGKILL');
        this.signal('SIGKILL');
      }, graceMs);
    }
    return this.exited;
  }

  /** SIGKILL now; resolves when the process has exited. */
  kill(): Promise<BeylaExit> {
    if (this.exit) return this.exited;
    this.stopRequested = true;
    this.signal('SIGKILL');
    return this.exited;
  }

  private signal(signal: 'SIGTERM' | 'SIGKILL'): void {
    if (this.exit) return;
    try {
      this.subprocess.kill(signal);
    } catch (error) {
      this.log.error({ err: error, signal }, 'could not signal Beyla');
    }
  }
}
