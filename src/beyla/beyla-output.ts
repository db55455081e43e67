// BeylaOutput: one Beyla's stdout/stderr lines: forwarded (rate-limited) into its logger, with its last, error and fatal lines, version and instrumented processes.
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import { InstrumentedProcesses } from './instrumented-processes.js';
import { LogRateLimit, type LogRateLimitOptions } from './log-rate-limit.js';
import { parseBeylaLog, type BeylaLogRecord } from './parse-beyla-log.js';
import { splitCappedLines, type CappedLine } from './split-capped-lines.js';

/** Lines that mean the instance is dead or useless even if the process lives on. */
export const FATAL_PATTERNS: readonly RegExp[] = [
  /wrong (?:Beyla )?configuration/i,
  /ended unexpectedly/i,
  /Unable to load eBPF watcher/i,
];

const KEPT_LINES = 5;

/** Counts of Beyla's output lines the limits acted on (wired to Prometheus counters by the supervisor). */
export interface OutputLimitCounters {
  truncated(): void;
  dropped(): void;
}

export interface BeylaOutputOptions {
  /** The instance's child logger. */
  log: Logger;
  /** The name the exec shell gives itself (`$0`): its error line on stderr says why Beyla could not be exec'd (none for an adopted instance). */
  execName?: string;
  /** How fast Beyla's lines are forwarded into the agent's log (defaults in log-rate-limit.ts). */
  logRateLimit?: Partial<LogRateLimitOptions> | undefined;
  /** Told of each line cut at the cap and each line not forwarded (rate limit), for the metrics. */
  outputLimits?: OutputLimitCounters | undefined;
  /** Called once, with the first fatal line. */
  onFatal: (text: string) => void;
}

export class BeylaOutput {
  /** What it logged as instrumented ('instrumenting process' lines), for the handover check. */
  readonly instrumented = new InstrumentedProcesses();
  fatalLine: string | null = null;
  /** Beyla's version, from its first log line (`msg="Grafana Beyla" Version=...`), once seen. */
  version: string | undefined = undefined;
  /** The shell's line when it could not exec Beyla. */
  execError: string | undefined;
  /** Lines not forwarded into the agent's log (rate limit), in all. */
  droppedLines = 0;
  private droppedSinceReport = 0;
  private readonly errorLines: string[] = [];
  private readonly lastLines: string[] = [];
  private readonly rateLimit: LogRateLimit;

  constructor(private readonly opts: BeylaOutputOptions) {
    this.rateLimit = new LogRateLimit(opts.logRateLimit);
  }

  /** Reads a stream line by line (each line capped); resolves when it has ended or was destroyed. */
  follow(stream: Readable | null, name: 'stdout' | 'stderr'): Promise<void> {
    if (!stream) return Promise.resolve();
    // A read error (EIO on a FIFO...) ends this stream's lines, never the agent.
    stream.on('error', (error) => this.opts.log.warn({ err: error, stream: name }, 'reading Beyla\'s output failed'));
    return splitCappedLines({ stream, onLine: (line) => this.onLine(line, name) });
  }

  /** One line saying how many of Beyla's lines were not forwarded since the last such line. */
  reportDropped(): void {
    if (this.droppedSinceReport === 0) return;
    this.opts.log.warn({ dropped_lines: this.droppedSinceReport, dropped_lines_total: this.droppedLines }, 'Beyla log lines dropped: over the forwarding rate limit');
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

  private onLine(line: CappedLine, stream: 'stdout' | 'stderr'): void {
    const { text: raw, truncated } = line;
    const { execName, outputLimits } = this.opts;
    if (truncated > 0) outputLimits?.truncated();
    if (raw.trim() === '') return;
    // Read before any rate limit: the handover check depends on every one of these lines.
    if (raw.includes('instrumenting process')) {
      const record = parseBeylaLog(raw);
      if (record.msg === 'instrumenting process') this.instrumented.add(record.fields, Date.now());
    }
    if (execName && stream === 'stderr' && this.execError === undefined && raw.startsWith(`${execName}: `)) {
      this.execError = raw.slice(execName.length + 2).replace(/^\d+: exec: /, '');
    }
    if (!this.rateLimit.take(raw.length)) {
      // Not forwarded, but a fatal or error line still counts: a cheap look first, a parse only then.
      this.droppedSinceReport += 1;
      this.droppedLines += 1;
      outputLimits?.dropped();
      this.lastLines.push(raw.slice(0, 500));
      if (this.lastLines.length > KEPT_LINES) this.lastLines.shift();
      if (/level=(?:ERROR|FATAL)|^panic:/i.test(raw) || FATAL_PATTERNS.some((pattern) => pattern.test(raw))) this.note(parseBeylaLog(raw), raw);
      return;
    }
    this.reportDropped();
    const record: BeylaLogRecord = parseBeylaLog(raw);
    if (this.version === undefined && record.msg === 'Grafana Beyla' && record.fields.version) this.version = record.fields.version;
    this.opts.log[record.level]({ ...record.fields, stream, ...(record.structured ? {} : { raw: true }), ...(truncated > 0 ? { truncated } : {}) }, record.msg);
    this.lastLines.push(this.textOf(record));
    if (this.lastLines.length > KEPT_LINES) this.lastLines.shift();
    this.note(record, raw);
  }

  private textOf(record: BeylaLogRecord): string {
    return record.structured ? `${record.msg}${record.fields.error ? `: ${record.fields.error}` : ''}` : record.msg;
  }

  /** Keeps error lines for reports and calls onFatal for the first fatal one. */
  private note(record: BeylaLogRecord, raw: string): void {
    const text = this.textOf(record);
    if (record.level === 'error' || record.level === 'fatal' || /^panic:/.test(raw)) {
      this.errorLines.push(text);
      if (this.errorLines.length > KEPT_LINES) this.errorLines.shift();
    }
    if (this.fatalLine === null && FATAL_PATTERNS.some((pattern) => pattern.test(record.msg))) {
      this.fatalLine = text;
      this.opts.onFatal(text);
    }
  }
}
