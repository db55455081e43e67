// Start-up with an invalid coral.yaml: run on the last good configuration from the state directory, loudly ("degraded"), or refuse (--strict, or nothing saved).
import client from 'prom-client';
import type { Snapshot } from '../config/types.js';
import { CoralError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Registry } from '../metrics/create-registry.js';
import type { LoadResult } from '../store/load-snapshot.js';
import { LastGoodStore, stateDirectory } from '../store/last-good-state.js';

/** Why the agent runs degraded, as the status document, STATUS= and the log say it. */
export interface DegradedInfo {
  /** "coral.yaml:7:5: unknown key ..." (the first error). */
  error: string;
  file: string;
  line: number;
  col: number;
  /** When the last good configuration it runs on was saved. */
  savedAt: string;
  since: string;
}

export interface StartPlan {
  /** The snapshot to start from: the first read, or the saved one (whose settings and services are kept). */
  snapshot: Snapshot;
  /** The previous snapshot for the first reconcile (the saved one when degraded). */
  previous: Snapshot | undefined;
  degraded: DegradedInfo | undefined;
  store: LastGoodStore | undefined;
}

/** Decides how to start; throws INVALID_CONFIG (65) as before when the main file is invalid and there is no way round it. */
export async function planStart(opts: { first: LoadResult; env: NodeJS.ProcessEnv; strict: boolean; logger: Logger }): Promise<StartPlan> {
  const { first, logger } = opts;
  const dir = stateDirectory(opts.env);
  const store = dir ? new LastGoodStore(dir) : undefined;
  if (first.mainValid) return { snapshot: first.snapshot, previous: undefined, degraded: undefined, store };
  const configPath = first.snapshot.settings.configPath;
  const errors = first.snapshot.diagnostics.filter((d) => d.severity === 'error' && d.file === configPath);
  for (const d of first.snapshot.diagnostics.filter((x) => x.severity === 'error')) logger.error({ file: d.file, line: d.line, col: d.col, hint: d.hint }, `${d.file}:${d.line}:${d.col}: ${d.message}`);
  const saved = opts.strict || !store ? undefined : await store.load(configPath);
  if (!saved) {
    const why = opts.strict ? '--strict' : !store ? 'no state directory ($STATE_DIRECTORY) to keep a last good configuration in' : `no last good configuration in ${store.file}`;
    throw new CoralError('INVALID_CONFIG', `${configPath} is invalid; not starting (${why})`, { hint: 'run: coral-agent check' });
  }
  const first_ = errors[0] ?? first.snapshot.diagnostics.find((d) => d.severity === 'error');
  const degraded: DegradedInfo = {
    error: first_ ? `${first_.file}:${first_.line}:${first_.col}: ${first_.message}` : `${configPath} is invalid`,
    file: first_?.file ?? configPath, line: first_?.line ?? 0, col: first_?.col ?? 0,
    savedAt: saved.savedAt, since: new Date().toISOString(),
  };
  logger.error({ file: degraded.file, line: degraded.line, col: degraded.col, saved_at: saved.savedAt, state_file: store!.file, degraded: true },
    `DEGRADED: ${degraded.error}; running on the last good configuration saved at ${saved.savedAt} (${saved.snapshot.services.length} services) until it is fixed; start with --strict to refuse instead`);
  return { snapshot: saved.snapshot, previous: saved.snapshot, degraded, store };
}

/** Holds the degraded state while it lasts, saves each good configuration, and exports coral_agent_degraded. */
export class DegradedMode {
  current: DegradedInfo | undefined;
  private readonly gauge: client.Gauge;
  private readonly store: LastGoodStore | undefined;
  private readonly logger: Logger;

  constructor(plan: StartPlan, registry: Registry, logger: Logger) {
    this.current = plan.degraded;
    this.store = plan.store;
    this.logger = logger;
    this.gauge = new client.Gauge({
      name: 'coral_agent_degraded',
      help: '1 while the agent runs on its saved last good configuration because coral.yaml was invalid at start, else 0.',
      registers: [registry],
    });
    this.gauge.set(this.current ? 1 : 0);
  }

  /** After each reconcile: a valid coral.yaml ends the degraded mode and is saved as the new last good state. */
  async record(snapshot: Snapshot | undefined): Promise<void> {
    if (!snapshot) return;
    const main = snapshot.files.find((f) => f.file === snapshot.settings.configPath);
    if (main?.status !== 'valid') return;
    if (this.current) {
      this.logger.info({ file: main.file, degraded: false }, `${main.file} is valid again: degraded mode over`);
      this.current = undefined;
      this.gauge.set(0);
    }
    try {
      await this.store?.save(snapshot);
    } catch (error) {
      this.logger.warn({ err: error, state_file: this.store?.file }, 'could not save the last good configuration');
    }
  }
}
