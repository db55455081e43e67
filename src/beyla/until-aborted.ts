// untilAborted: waits for a promise, or stops waiting when a signal aborts (the work goes on for whoever else waits on it).
/** `promise`, or `onAbort()` once `signal` aborts first; no signal, `promise` itself. A signal already aborted never fires. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, onAbort: () => T): Promise<T> {
  if (!signal) return promise;
  let listener = (): void => undefined;
  const aborted = new Promise<T>((resolveAborted) => { listener = () => resolveAborted(onAbort()); });
  signal.addEventListener('abort', listener, { once: true });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', listener));
}
