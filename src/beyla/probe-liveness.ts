// Probes the active Beyla's /healthz every intervalMs (each probe with its own deadline) and reports each result, telling the agent's own faults from Beyla's.
import { CoralError } from '../errors.js';
import type { OwnFault } from '../lifecycle/types.js';
import { HEALTH_PATH } from '../plan/render-beyla-config.js';
import type { BeylaProcess } from './beyla-process.js';
import { fetchText } from './fetch-text.js';

export interface LivenessResult {
  ok: boolean;
  probe: string;
  detail: string;
  /** With ok false: the probe failed for the agent's own reasons, which say nothing about Beyla. */
  ownFault?: OwnFault;
}

export interface ProbeLivenessOptions {
  instance: BeylaProcess;
  intervalMs: number;
  timeoutMs: number;
  /** Called after each probe; returning false ends the probing. */
  onResult: (result: LivenessResult) => boolean;
}

/** Errors of the agent's own resources on the probe's socket, by errno code. */
const RESOURCE_CODES: Readonly<Record<string, OwnFault>> = {
  EMFILE: 'emfile',
  ENFILE: 'enfile',
  ENOBUFS: 'resources',
  ENOMEM: 'resources',
  EADDRNOTAVAIL: 'resources',
};

/**
 * Why a failed probe is the agent's fault, if it is: its socket could not be made (no file
 * descriptors, sockets or memory), or it timed out although Beyla held the request for less than
 * half the deadline (the agent's event loop was blocked, so the request went out late).
 */
export function ownFaultOf(error: unknown, heldMs: number | null, timeoutMs: number): OwnFault | undefined {
  const cause = error instanceof Error ? error.cause : undefined;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && RESOURCE_CODES[code]) return RESOURCE_CODES[code];
  const timedOut = error instanceof CoralError && error.details?.timed_out === true;
  if (timedOut && (heldMs === null || heldMs < timeoutMs / 2)) return 'event_loop_lag';
  return undefined;
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
    let result: LivenessResult;
    let connectedAt: number | null = null;
    try {
      await fetchText(url, { timeoutMs, signal: abort.signal, onConnect: () => { connectedAt = performance.now(); } });
      result = { ok: true, probe, detail: 'answered' };
    } catch (error) {
      if (abort.signal.aborted) return;
      const detail = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      const heldMs = connectedAt === null ? null : performance.now() - connectedAt;
      const ownFault = ownFaultOf(error, heldMs, timeoutMs);
      result = { ok: false, probe, detail, ...(ownFault ? { ownFault } : {}) };
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
