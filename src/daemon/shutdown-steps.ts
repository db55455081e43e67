// ShutdownSteps: what the daemon started, undone in the reverse order at shut-down; a failing step is logged and the rest still run.
import type { Logger } from '../log.js';

export class ShutdownSteps {
  private readonly steps: Array<() => Promise<void> | void> = [];

  /** Adds the undoing of what was just started: it runs before everything added earlier. */
  push(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }

  async run(log: Logger): Promise<void> {
    for (const step of this.steps.reverse()) {
      try {
        await step();
      } catch (error) {
        log.error({ err: error }, 'error during shutdown');
      }
    }
  }
}
