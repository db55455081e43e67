// awaitStartup: waits for the first reconcile; rejects at agent.startup_timeout, or when the start-up signal is aborted.
import { CoralError } from '../errors.js';

export interface AwaitStartupOptions {
  /** agent.startup_timeout. */
  timeoutMs: number;
  /** The caller's start-up signal: aborting it rejects with 'stopped during start-up'. */
  signal?: AbortSignal | undefined;
}

export async function awaitStartup(startup: Promise<unknown>, opts: AwaitStartupOptions): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CoralError('TEMPORARY', `start-up did not finish within agent.startup_timeout (${opts.timeoutMs} ms)`, {
      hint: 'see the log above: Beyla may be slow to become ready (agent.beyla.readiness.timeout)',
    })), opts.timeoutMs);
  });
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = (): void => reject(new CoralError('TEMPORARY', 'stopped during start-up'));
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([startup, timeout, aborted]);
  } finally {
    clearTimeout(timer);
  }
}
