// The stop sequence of a Beyla's process group, shared by a spawned and an adopted instance: SIGTERM, SIGKILL after a grace period, and at exit SIGKILL to what is left of the group.
import type { Logger } from '../log.js';

export type GroupSignal = 'SIGTERM' | 'SIGKILL';

export class GroupTermination {
  /** Whether the agent asked for the exit (stop or kill), for the instance's exit record. */
  requested = false;
  private killTimer: NodeJS.Timeout | undefined;

  /**
   * `signal` sends to the group (or does nothing when there is none to signal); `what` names the
   * instance in the log line of a late SIGKILL ("Beyla", "adopted Beyla").
   */
  constructor(private readonly signal: (signal: GroupSignal) => void, private readonly log: Logger, private readonly what: string) {}

  /** SIGTERM now, SIGKILL after `graceMs` (armed once, however often asked). */
  stop(graceMs: number): void {
    this.requested = true;
    this.signal('SIGTERM');
    if (this.killTimer !== undefined) return;
    this.killTimer = setTimeout(() => {
      this.log.warn({ grace_ms: graceMs }, `${this.what} did not exit after SIGTERM: sending SIGKILL`);
      this.signal('SIGKILL');
    }, graceMs);
  }

  /** SIGKILL now. */
  kill(): void {
    this.requested = true;
    this.signal('SIGKILL');
  }

  /** The instance has exited: no SIGKILL pending, and nothing it started outlives it. */
  exited(): void {
    clearTimeout(this.killTimer);
    this.signal('SIGKILL');
  }
}

/** `kill(-pid, signal)`: the whole group whose id is `pid`; a group already gone is not an error. */
export function signalProcessGroup(pid: number, signal: GroupSignal, log: Logger, what: string): void {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') log.error({ err: error, signal }, `could not signal ${what}`);
  }
}
