// ActiveSlot: the supervisor's active Beyla and its liveness probe, set at promotion and cleared at deactivation.
import type { BeylaProcess } from './beyla-process.js';
import { probeLiveness, type LivenessResult } from './probe-liveness.js';

export interface ActiveSlotOptions {
  intervalMs: number;
  timeoutMs: number;
  /** Takes each probe result of `generation`; returns whether to go on probing it. */
  onResult: (generation: number, result: LivenessResult) => boolean;
}

export class ActiveSlot {
  /** The instance serving now (null: none). */
  current: BeylaProcess | null = null;
  private stopProbing: (() => void) | null = null;

  constructor(private readonly opts: ActiveSlotOptions) {}

  /** `instance` serves from now on (null: the promoted one is already gone); the previous one's probe stops. */
  promote(instance: BeylaProcess | null): void {
    this.current = instance;
    this.stopProbing?.();
    this.stopProbing = instance ? this.watch(instance) : null;
  }

  /** Clears the slot if `generation` is the one in it; false when it is not. */
  deactivate(generation: number): boolean {
    if (this.current?.generation !== generation) return false;
    this.stopProbing?.();
    this.stopProbing = null;
    this.current = null;
    return true;
  }

  private watch(instance: BeylaProcess): () => void {
    const { generation } = instance;
    return probeLiveness({
      instance,
      intervalMs: this.opts.intervalMs,
      timeoutMs: this.opts.timeoutMs,
      onResult: (result) => this.opts.onResult(generation, result),
    });
  }
}
