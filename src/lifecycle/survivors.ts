// Beyla instances a previous agent left running: recorded at start, adopted when one runs the desired config, else stopped once ours is ready.
import type { Draft } from './draft.js';
import type { LifecycleEvent, Survivor, Target } from './types.js';

/** Beyla's own default shutdown_timeout: the grace of a survivor stopped when no config of ours says otherwise. */
const BEYLA_DEFAULT_SHUTDOWN_MS = 10_000;

/** SIGTERM to every survivor (the grace of `target`'s shutdown_timeout, else Beyla's default, plus the margin); they become retiring. */
export function retireSurvivors(d: Draft, target: Target | null): void {
  if (d.s.survivors.length === 0) return;
  const graceMs = (target?.settings.shutdownTimeoutMs ?? BEYLA_DEFAULT_SHUTDOWN_MS) + d.s.timing.stopMarginMs;
  for (const s of d.s.survivors) {
    d.fx.push({ type: 'log', level: 'info', msg: 'stopping a Beyla left by a previous agent', fields: { generation: s.generation, pid: s.pid } });
    d.s = { ...d.s, retiring: [...d.s.retiring.filter((r) => r.generation !== s.generation), { generation: s.generation, pid: s.pid, hung: false }] };
    d.fx.push({ type: 'terminate', generation: s.generation, graceMs });
  }
  d.s = { ...d.s, survivors: [] };
}

/** The survivor that runs exactly `target`'s config and has not failed verification, if any. */
export function matchingSurvivor(d: Draft, target: Target): Survivor | undefined {
  return d.s.survivors.find((s) => s.adoptable && s.digest === target.digest);
}

/** Takes a survivor out of the list (it becomes the adoption candidate, or it has exited). */
export function dropSurvivor(d: Draft, generation: number): void {
  d.s = { ...d.s, survivors: d.s.survivors.filter((s) => s.generation !== generation) };
}

/** A survivor that failed verification but still runs: it bridges (instruments) until a new instance is ready, then it is stopped. */
export function keepUnadoptable(d: Draft, survivor: Omit<Survivor, 'adoptable' | 'digest'>): void {
  d.s = { ...d.s, survivors: [...d.s.survivors.filter((s) => s.generation !== survivor.generation), { ...survivor, digest: null, adoptable: false }] };
}

/**
 * The survivors event (sent once, before the first desired state): with nothing of ours running they
 * are kept (make-before-break); with an active instance, or while disabled or stopping, they are stopped.
 * Later generations are numbered above theirs.
 */
export function onSurvivors(d: Draft, e: Extract<LifecycleEvent, { type: 'survivors' }>, hasActive: boolean): void {
  const p = d.s.phase.phase;
  if (p === 'stopped' || e.survivors.length === 0) return;
  const generation = Math.max(d.s.generation, ...e.survivors.map((s) => s.generation));
  const known = new Set([...d.s.survivors.map((s) => s.generation), ...d.s.retiring.map((r) => r.generation)]);
  const added = e.survivors.filter((s) => !known.has(s.generation)).map((s): Survivor => ({ ...s, adoptable: s.digest !== null }));
  d.s = { ...d.s, generation, survivors: [...d.s.survivors, ...added] };
  d.fx.push({ type: 'log', level: 'info', msg: 'found Beyla left running by a previous agent', fields: { survivors: added.map((s) => ({ generation: s.generation, pid: s.pid, adoptable: s.adoptable })) } });
  if (hasActive || p === 'disabled' || p === 'stopping') retireSurvivors(d, null);
}
