// Probes the active Beyla's /healthz every intervalMs (each probe with its own deadline) and reports each result.
import { HEALTH_PATH } from '../plan/render-beyla-config.js';
import type { BeylaProcess } from './beyla-process.js';
import { fetchText } from './fetch-text.js';

export interface ProbeLivenessOptions {
  instance: BeylaProcess;
  intervalMs: number;
  timeoutMs: number;
  /** Called after each probe; returning false ends the probing. */
  onResult: (result: { ok: boolean; probe: string; detail: string }) => boolean;
}

/** Starts probing; the returned function stops it (and aborts a probe in flight). */
export function probeLiveness(opts: ProbeLivenessOptions): () => void {
  const { instance, intervalMs, timeoutMs } = opts;
  const abort = new AbortController();
  const probe = `${HEALTH_PATH} on 127.0.0.1:${instance.ports.health}`;
  const url = `http://127.0.0.1:${instance.ports.health}${HEALTH_PATH}`;
  let timer: NodeJS.Timeout | undefined;
  const once = async (): Promise<void> => {
    if (abort.signal.aborted || !instance.running) return;
    let result: { ok: boolean; probe: string; detail: string };
    try {
      await fetchText(url, { timeoutMs, signal: abort.signal });
      result = { ok: true, probe, detail: 'answered' };
    } catch (error) {
      if (abort.signal.aborted) return;
      const detail = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      result = { ok: false, probe, detail };
    }
    if (abort.signal.aborted || !instance.running) return;
    if (opts.onResult(result)) schedule();
  };
  const schedule = (): void => {
    if (!abort.signal.aborted) timer = setTimeout(() => void once(), intervalMs);
  };
  schedule();
  return () => {
    clearTimeout(timer);
    abort.abort();
  };
}
