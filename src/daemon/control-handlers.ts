// controlHandlers: what the daemon answers on the control socket: status (with fresh coverage), connect/disconnect, reload.
import type { BeylaSupervisor } from '../beyla/supervisor.js';
import type { ControlHandlers } from '../control/start-control-server.js';
import { CoralError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ReconcileResult } from './reconcile-run.js';
import { createServiceEdits, type ServiceEditsOptions } from './service-edits.js';

export interface ControlHandlersOptions {
  supervisor: BeylaSupervisor;
  status: () => Record<string, unknown>;
  reload: () => Promise<ReconcileResult>;
  edits: ServiceEditsOptions;
  log: Logger;
  /** The agent's stop: a status still being read then is not built (close() has cut its request). */
  signal: AbortSignal;
}

export function controlHandlers(opts: ControlHandlersOptions): ControlHandlers {
  const { supervisor, log } = opts;
  return {
    // Which processes the active Beyla instruments, read fresh for each status (not only at scrapes).
    status: async () => {
      await supervisor.coverage().catch((error: unknown) => log.debug({ err: error }, 'could not read service coverage'));
      // Stopping: the document (O(services): ~150 ms at 10,000) would only hold up the stop.
      if (opts.signal.aborted) throw new CoralError('TEMPORARY', 'the agent is stopping');
      return opts.status();
    },
    ...createServiceEdits(opts.edits),
    reload: async () => {
      const result = await opts.reload();
      return { ok: result.ok, invalid: result.invalid, message: result.message, errors: result.errors, generation: result.generation, result: result.beyla.result };
    },
  };
}
