// One reconcile run: read the snapshot, compute the desired state, apply it to Beyla, then record the result, metrics and status.
import { IncrementalMerge } from '../config/merge-incremental.js';
import { countPorts } from '../config/ports.js';
import type { Validators } from '../config/schema-validate.js';
import type { AgentSettings, Diagnostic, Snapshot } from '../config/types.js';
import type { ApplyOutcome, BeylaSupervisor } from '../beyla/supervisor.js';
import type { HealthMonitor } from '../health/health-monitor.js';
import type { Logger } from '../log.js';
import type { AgentMetrics } from '../metrics/create-agent-metrics.js';
import { describeChange, firstOf, formatChange, formatRangesCapped, SUMMARY_FILES, SUMMARY_RANGES, type Change } from '../plan/describe-change.js';
import { desiredState } from '../plan/desired-state.js';
import type { DropInCache } from '../store/drop-in-cache.js';
import { loadSnapshot } from '../store/load-snapshot.js';

/** What one reconcile did; the reload API returns it. */
export interface ReconcileResult {
  ok: boolean;
  /** A file was invalid (as opposed to a valid configuration that Beyla failed to apply). */
  invalid: boolean;
  message: string;
  generation: number;
  change: Change;
  beyla: ApplyOutcome;
  errors: Diagnostic[];
  at: string;
}

export interface ReconcileRunOptions {
  settings: AgentSettings;
  env: NodeJS.ProcessEnv;
  flags: Record<string, string | undefined>;
  validators: Validators;
  cache: DropInCache;
  supervisor: Pick<BeylaSupervisor, 'apply' | 'status'>;
  health: Pick<HealthMonitor, 'update'>;
  metrics: AgentMetrics;
  /** A valid coral.yaml was read: apply what can change at run time (debounce, log level, watched directory). */
  onSettings: (settings: AgentSettings, before: AgentSettings, logger: Logger) => Promise<void>;
  /** After each run (STATUS= and friends). */
  onResult: (result: ReconcileResult) => void;
}

function diagnosticKey(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}:${d.severity}:${d.message}`;
}

/** The one-line summary of a run, by Beyla's outcome. */
function describeOutcome(summary: string, outcome: ApplyOutcome, previousGeneration: number, elapsedMs: number, reason: string | undefined): string {
  switch (outcome.result) {
    case 'swapped':
    case 'started': return `${summary}; Beyla generation ${previousGeneration} -> ${outcome.generation} in ${(elapsedMs / 1000).toFixed(1)}s`;
    case 'stopped': return `${summary}; no services left: Beyla stopped`;
    case 'unchanged': return `${summary}; Beyla config unchanged (generation ${outcome.generation})`;
    case 'failed': return `${summary}; new Beyla failed, generation ${outcome.generation} keeps running: ${outcome.error ?? 'unknown error'}`;
    case 'unavailable': return `${summary}; Beyla unavailable: ${outcome.error ?? reason ?? ''}`;
    case 'disabled': return `${summary}; Beyla disabled (agent.beyla.enabled: false)`;
    case 'superseded': return `${summary}; superseded by a newer change`;
  }
}

/** Holds what the runs share: the last snapshot and result, settings, diagnostics already logged, the time of the first unapplied change. */
export class ReconcileRun {
  settings: AgentSettings;
  snapshot: Snapshot | undefined;
  lastResult: ReconcileResult | undefined;
  /** When the oldest change not yet applied was seen (undefined: nothing pending). */
  dirtySince: number | undefined;
  private readonly seenDiagnostics = new Set<string>();
  private readonly opts: ReconcileRunOptions;
  /** Merges in O(changed) while each load's `previous` is the snapshot it made last. */
  private readonly merge = new IncrementalMerge();

  constructor(opts: ReconcileRunOptions) {
    this.opts = opts;
    this.settings = opts.settings;
  }

  markDirty(): void {
    this.dirtySince ??= Date.now();
  }

  /** The reconciler's run: one full pass from the files to Beyla. */
  readonly run = async (ctx: { id: number; reason: string; logger: Logger; signal?: AbortSignal }): Promise<ReconcileResult> => {
    const { metrics, supervisor } = this.opts;
    const since = this.dirtySince ?? Date.now();
    this.dirtySince = undefined;
    const loaded = await loadSnapshot({ configPath: this.settings.configPath, env: this.opts.env, flags: this.opts.flags, previous: this.snapshot, validators: this.opts.validators, cache: this.opts.cache, merge: this.merge });
    const next = loaded.snapshot;
    this.logNewDiagnostics(next.diagnostics, ctx.logger);

    const change = describeChange(this.snapshot, next, loaded.delta);
    if (loaded.mainValid) {
      const before = this.settings;
      this.settings = next.settings;
      for (const key of ['metrics', 'control', 'runtimeDir'] as const) {
        if (JSON.stringify(before[key]) !== JSON.stringify(this.settings[key])) {
          ctx.logger.warn({ setting: key }, `agent.${key === 'runtimeDir' ? 'runtime_dir' : key} changed: restart coral-agent to apply it`);
        }
      }
      await this.opts.onSettings(this.settings, before, ctx.logger);
    }
    const settings = this.settings;
    this.snapshot = next;
    this.opts.health.update(next.services);
    const previousGeneration = supervisor.status().generation;
    metrics.configuredServices.set(next.services.length);
    const desired = desiredState(next.services);
    metrics.configuredPorts.set(countPorts(desired.ports));
    // The agent's stop does not wait for a swap in flight (the supervisor's stop then retires both instances).
    const outcome = await supervisor.apply(desired, settings.beyla, ctx.signal);
    const rejected = next.files.filter((f) => f.status !== 'valid');
    metrics.rejectedDropins.set(rejected.filter((f) => f.file !== settings.configPath).length);
    metrics.mainConfigRejected.set(rejected.some((f) => f.file === settings.configPath) ? 1 : 0);
    const errors = next.diagnostics.filter((d) => d.severity === 'error');
    const ok = loaded.invalidFiles.length === 0 && errors.length === 0 && outcome.result !== 'failed';
    const elapsedMs = Date.now() - since;
    const message = describeOutcome(formatChange(change), outcome, previousGeneration, elapsedMs, supervisor.status().reason);
    if (outcome.result === 'swapped' || outcome.result === 'started') metrics.changeToApplied.observe(elapsedMs / 1000);
    metrics.recordReload(!loaded.mainValid || loaded.invalidFiles.length > 0 ? 'invalid' : outcome.result === 'failed' ? 'failed' : outcome.result === 'unchanged' ? 'unchanged' : 'success');
    metrics.generation.set(outcome.generation);
    const fields = { reason: ctx.reason, generation: outcome.generation, result: outcome.result, ports_added: formatRangesCapped(change.added, SUMMARY_RANGES), ports_removed: formatRangesCapped(change.removed, SUMMARY_RANGES), files: firstOf(change.files, SUMMARY_FILES), files_changed: change.files.length, elapsed_ms: elapsedMs };
    if (outcome.result === 'failed') ctx.logger.warn(fields, message);
    else if (outcome.result === 'unchanged' && change.files.length === 0) ctx.logger.debug(fields, message);
    else ctx.logger.info(fields, message);
    const invalid = !loaded.mainValid || loaded.invalidFiles.length > 0 || errors.length > 0;
    const result: ReconcileResult = { ok, invalid, message, generation: outcome.generation, change, beyla: outcome, errors, at: new Date().toISOString() };
    this.lastResult = result;
    this.opts.onResult(result);
    return result;
  };

  /** Logs each diagnostic once, while it lasts; one that went away is logged again if it comes back. */
  private logNewDiagnostics(diagnostics: readonly Diagnostic[], logger: Logger): void {
    for (const d of diagnostics) {
      const key = diagnosticKey(d);
      if (this.seenDiagnostics.has(key)) continue;
      this.seenDiagnostics.add(key);
      const fields = { file: d.file, line: d.line, col: d.col, ...(d.hint ? { hint: d.hint } : {}) };
      if (d.severity === 'error') logger.error(fields, d.message);
      else logger.warn(fields, d.message);
    }
    const current = new Set(diagnostics.map(diagnosticKey));
    for (const key of this.seenDiagnostics) if (!current.has(key)) this.seenDiagnostics.delete(key);
  }
}
