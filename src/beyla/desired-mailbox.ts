// DesiredMailbox: the supervisor's one-slot mailbox of desired states; taking one plans it (binary, ports) into a 'desired' event.
import type { BeylaSettings } from '../config/types.js';
import type { LifecycleEvent, Plan } from '../lifecycle/types.js';
import type { DesiredState } from '../plan/types.js';
import { planDesired } from './plan-desired.js';

export interface Wanted {
  desired: DesiredState;
  settings: BeylaSettings;
}

export interface DesiredMailboxOptions {
  /** The settings the agent started with: used until a request brings its own. */
  settings: BeylaSettings;
  env: NodeJS.ProcessEnv;
  excludePorts: number[];
}

/** A newer request supersedes one not yet taken; the newest taken one is kept for retries. */
export class DesiredMailbox {
  /** The Beyla binary the newest plan resolved (the configured one until then). */
  binary: string;
  private slot: (Wanted & { requests: number[] }) | null = null;
  private taken: Wanted | null = null;
  private seq = 0;

  constructor(private readonly opts: DesiredMailboxOptions) {
    this.binary = opts.settings.binary;
  }

  /** The newest desired state taken out of the slot (null before the first). */
  get latest(): Wanted | null {
    return this.taken;
  }

  /** Puts one request's desired state in the slot; returns the requests it superseded. */
  put(desired: DesiredState, settings: BeylaSettings | undefined, request: number): number[] {
    const chosen = settings ?? this.slot?.settings ?? this.taken?.settings ?? this.opts.settings;
    const superseded = this.slot?.requests ?? [];
    this.slot = { desired, settings: chosen, requests: [request] };
    return superseded;
  }

  /** Empties the slot; returns the requests that were waiting in it. */
  drop(): number[] {
    const dropped = this.slot?.requests ?? [];
    this.slot = null;
    return dropped;
  }

  /** Takes what the slot holds and plans it (null when a newer take already had it). */
  async take(): Promise<LifecycleEvent | null> {
    const taken = this.slot;
    if (!taken) return null;
    this.slot = null;
    this.taken = { desired: taken.desired, settings: taken.settings };
    const plan = await this.plan(this.taken, ++this.seq);
    return { type: 'desired', at: Date.now(), requests: taken.requests, why: 'change', plan };
  }

  /** Plans `wanted` again under the current sequence number: a retry, answering no request. */
  async replan(wanted: Wanted): Promise<LifecycleEvent> {
    return { type: 'desired', at: Date.now(), requests: [], why: 'retry', plan: await this.plan(wanted, this.seq) };
  }

  private async plan(wanted: Wanted, seq: number): Promise<Plan> {
    const { plan, binary } = await planDesired({ ...wanted, seq, env: this.opts.env, excludePorts: this.opts.excludePorts });
    this.binary = binary;
    return plan;
  }
}
