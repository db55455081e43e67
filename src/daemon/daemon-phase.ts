// What the agent is doing right now, as one value: waiting out the debounce, reading the files, swapping to a new Beyla, or idle.
import type { SupervisorStatus } from '../beyla/supervisor-types.js';
import type { ReconcilerProgress } from '../reconcile/reconciler.js';

export type DaemonPhase =
  /** Nothing to do: the running Beyla has the configuration. */
  | { name: 'idle' }
  /** A change was seen; the run starts when the debounce (or max_wait) ends. */
  | { name: 'debounce'; dueAt: string; inMs: number }
  /** A change waits for the run in flight to finish. */
  | { name: 'queued' }
  /** The files are being read and the result handed to the supervisor. */
  | { name: 'reconciling' }
  /** A new Beyla (the candidate) is starting; it replaces generation `from` once ready. */
  | { name: 'swap'; generation: number; from: number };

export function describePhase(progress: ReconcilerProgress, beyla: SupervisorStatus, nowMs: number): DaemonPhase {
  const candidate = beyla.instances.find((i) => i.role === 'candidate');
  if (candidate) return { name: 'swap', generation: candidate.generation, from: beyla.generation };
  if (progress.running) return progress.pending ? { name: 'queued' } : { name: 'reconciling' };
  if (progress.pending && progress.dueAtMs !== undefined) {
    return { name: 'debounce', dueAt: new Date(progress.dueAtMs).toISOString(), inMs: Math.max(progress.dueAtMs - nowMs, 0) };
  }
  if (progress.pending) return { name: 'reconciling' };
  return { name: 'idle' };
}
