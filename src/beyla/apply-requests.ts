// ApplyRequests: the supervisor's pending apply() callers, answered with an ApplyOutcome when step() resolves them.
import type { ApplyResult } from '../lifecycle/types.js';
import type { ApplyOutcome } from './supervisor-types.js';

/** What an outcome reports of the instance serving when it is built. */
export interface ServingNow {
  generation: number;
  portsString: string;
}

export class ApplyRequests {
  private readonly pending = new Map<number, { resolve: (outcome: ApplyOutcome) => void; at: number }>();
  private seq = 0;

  /** `serving` reads the active instance (null when none) at the moment an outcome is built. */
  constructor(private readonly serving: () => ServingNow | null) {}

  /** Registers one caller; returns its request id. */
  add(resolve: (outcome: ApplyOutcome) => void): number {
    const id = ++this.seq;
    this.pending.set(id, { resolve, at: Date.now() });
    return id;
  }

  answer(ids: number[], result: ApplyResult, error?: string, spawnMs?: number): void {
    for (const id of ids) {
      const request = this.pending.get(id);
      if (!request) continue;
      this.pending.delete(id);
      request.resolve(this.outcome(result, result === 'superseded' ? 0 : request.at, error, spawnMs));
    }
  }

  outcome(result: ApplyResult, since: number, error?: string, spawnMs?: number): ApplyOutcome {
    const active = this.serving();
    return {
      result,
      generation: active?.generation ?? 0,
      portsString: active?.portsString ?? '',
      ...(error === undefined ? {} : { error }),
      durationMs: since === 0 ? 0 : Date.now() - since,
      ...(spawnMs === undefined ? {} : { spawnMs }),
    };
  }
}
