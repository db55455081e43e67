// ShutdownSteps: what the daemon started, undone in the reverse order at shut-down; a failing step is logged and the rest still run, each step's time is logged (debug).
import type { Logger } from '../log.js';

interface Step {
  /** snake_case, logged as `step`. */
  name: string;
  undo: () => Promise<void> | void;
}

export class ShutdownSteps {
  private readonly steps: Step[] = [];

  /** Adds the undoing of what was just started: it runs before everything added earlier. */
  push(name: string, undo: () => Promise<void> | void): void {
    this.steps.push({ name, undo });
  }

  /** Runs `first` (the abort), then every step, newest first; a slow stop says where its time went. */
  async run(log: Logger, first?: Step): Promise<void> {
    for (const { name, undo } of [...(first ? [first] : []), ...this.steps.reverse()]) {
      const startedAtMs = performance.now();
      try {
        await undo();
      } catch (error) {
        log.error({ err: error, step: name }, 'error during shutdown');
      }
      log.debug({ step: name, elapsed_ms: Math.round(performance.now() - startedAtMs) }, 'shutdown step done');
    }
  }
}
