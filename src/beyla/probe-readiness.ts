// Wait until a new Beyla instance is ready: alive past min uptime, /healthz answering, no fatal line, optionally instrumenting.
import { setTimeout as delay } from 'node:timers/promises';
import { CoralError } from '../errors.js';
import type { ReadinessSettings } from '../config/types.js';
import type { PromotedAtDeadline } from '../lifecycle/types.js';
import type { DesiredState, Selector } from '../plan/types.js';
import { HEALTH_PATH, INTERNAL_METRICS_PATH } from '../plan/render-beyla-config.js';
import type { BeylaInstance } from './beyla-instance.js';
import type { BeylaProcess } from './beyla-process.js';
import { checkHandover, describeExpected, type HandoverCheck } from './check-handover.js';
import { checkInstrumented } from './check-instrumented.js';
import { fetchText } from './fetch-text.js';

export const PROBE_INTERVAL_MS = 100;
/** The handover check lists listeners and reads /proc: not more often than this. */
const HANDOVER_INTERVAL_MS = 250;

/** Why a candidate was not ready: the label of coral_agent_beyla_readiness_failures_total. */
export type ReadinessFailureReason = 'exited' | 'fatal' | 'timeout' | 'not_instrumented' | 'cannot_run' | 'spawn' | 'stopping';
export const READINESS_FAILURE_REASONS: readonly ReadinessFailureReason[] = ['exited', 'fatal', 'timeout', 'not_instrumented', 'cannot_run', 'spawn', 'stopping'];

export interface ReadinessResult {
  /** Set when the first instance was promoted without instrumenting every listener (there was no old one to keep). */
  warning?: PromotedAtDeadline;
  /** From the spawn to the handover check passing (only with handover on and something to instrument). */
  handoverMs?: number;
}

export interface HandoverOptions {
  /** The instance it would replace; null for the first instance. */
  active: BeylaProcess | null;
  desired: DesiredState;
  onProgress?: (check: HandoverCheck, elapsedMs: number) => void;
}
const HTTP_TIMEOUT_MS = 1000;

export interface ProbeReadinessOptions {
  instance: BeylaInstance;
  readiness: ReadinessSettings;
  /** Needed only with readiness.requireInstrumented. */
  selectors: readonly Selector[];
  excludePorts: readonly number[];
  signal: AbortSignal;
  /** With readiness.handover (default on): what the candidate must instrument first. */
  handover?: HandoverOptions;
}

/**
 * CoralError('BEYLA_FAILED') quoting Beyla's last error-level line, with `details.beyla_error`;
 * never an info or warn line (the cloud SDK's WARN) nor a runtime's trailer.
 */
function failure(instance: BeylaInstance, what: string, reason: ReadinessFailureReason): CoralError {
  const beylaError = instance.beylaError();
  const message = beylaError ? `${what}: ${beylaError}` : what;
  return new CoralError('BEYLA_FAILED', `Beyla generation ${instance.generation} ${message}`, {
    details: { generation: instance.generation, pid: instance.pid, beyla_error: beylaError, config_file: instance.configFile, reason },
  });
}

/** The reason a probe failure carries (details.reason), 'timeout' when it has none. */
export function readinessFailureReason(error: unknown): ReadinessFailureReason {
  const reason = error instanceof CoralError ? (error.details as { reason?: unknown } | undefined)?.reason : undefined;
  return READINESS_FAILURE_REASONS.includes(reason as ReadinessFailureReason) ? reason as ReadinessFailureReason : 'timeout';
}

/** Resolves when ready; rejects with the reason at the first fatal sign or at the deadline. */
export async function probeReadiness(opts: ProbeReadinessOptions): Promise<ReadinessResult> {
  const { instance, readiness } = opts;
  const deadline = instance.startedAt + readiness.timeoutMs;
  const exitOrFatal = new AbortController();
  const onFatal = (): void => exitOrFatal.abort();
  instance.on('fatal', onFatal);
  void instance.exited.then(() => exitOrFatal.abort());
  const wait = AbortSignal.any([opts.signal, exitOrFatal.signal]);
  let healthy = false;
  let instrumented = !readiness.requireInstrumented;
  let missing: string[] = [];
  const handover = readiness.handover === false ? undefined : opts.handover;
  let handedOver = handover === undefined;
  let handoverMs: number | undefined;
  let lastHandover: HandoverCheck | undefined;
  let nextHandoverAt = 0;
  try {
    for (;;) {
      if (opts.signal.aborted) throw new CoralError('BEYLA_FAILED', `Beyla generation ${instance.generation} start abandoned: the supervisor is stopping`, { details: { reason: 'stopping' } });
      if (instance.exit) {
        await instance.exited;
        throw failure(instance, `${instance.describeExit()} before it was ready`, 'exited');
      }
      if (instance.fatalLine) throw failure(instance, 'logged a fatal line', 'fatal');
      const now = Date.now();
      const base = `http://127.0.0.1:`;
      if (!healthy) {
        healthy = await fetchText(`${base}${instance.ports.health}${HEALTH_PATH}`, { timeoutMs: HTTP_TIMEOUT_MS, signal: wait })
          .then(() => true, () => false);
      }
      if (healthy && !instrumented) {
        const text = await fetchText(`${base}${instance.ports.internal}${INTERNAL_METRICS_PATH}`, { timeoutMs: HTTP_TIMEOUT_MS, signal: wait })
          .catch(() => '');
        const check = await checkInstrumented({ selectors: opts.selectors, excludePorts: opts.excludePorts, internalMetricsText: text, selfPid: process.pid });
        instrumented = check.covered;
        missing = check.missing;
      }
      if (healthy && handover && !handedOver && now >= nextHandoverAt) {
        nextHandoverAt = now + HANDOVER_INTERVAL_MS;
        lastHandover = await checkHandover({
          candidate: instance.instrumented, active: handover.active?.instrumented ?? null, desired: handover.desired,
          excludePorts: opts.excludePorts, selfPid: process.pid,
        });
        handover.onProgress?.(lastHandover, Date.now() - instance.startedAt);
        if (lastHandover.covered) {
          handedOver = true;
          if (lastHandover.expected.length > 0) handoverMs = Date.now() - instance.startedAt;
        }
      }
      const upLongEnough = now - instance.startedAt >= readiness.minUptimeMs;
      const result = (): ReadinessResult => (handoverMs === undefined ? {} : { handoverMs });
      if (healthy && instrumented && handedOver && upLongEnough && instance.running && !instance.fatalLine) return result();
      if (Date.now() >= deadline) {
        const seconds = Math.round((Date.now() - instance.startedAt) / 1000);
        const notInstrumented = (lastHandover?.missing ?? []).map((p) => `${describeExpected(p)} not instrumented after ${seconds} s`);
        if (healthy && instrumented && !handedOver && upLongEnough && handover?.active === null && instance.running) {
          // The first instance: there is no old one to keep, so it serves what it does instrument.
          return {
            warning: {
              code: 'promoted_at_deadline', generation: instance.generation, missing: notInstrumented,
              message: `Beyla generation ${instance.generation} promoted without instrumenting: ${notInstrumented.join('; ')}`,
            },
          };
        }
        const waiting = [
          ...(healthy ? [] : [`${HEALTH_PATH} not answering on 127.0.0.1:${instance.ports.health}`]),
          ...missing,
          ...(handedOver ? [] : notInstrumented),
        ];
        throw failure(instance, `not ready within ${readiness.timeoutMs} ms (${waiting.join('; ') || 'minimum uptime not reached'})`, healthy && !handedOver ? 'not_instrumented' : 'timeout');
      }
      const nextMs = Math.min(PROBE_INTERVAL_MS, Math.max(0, deadline - Date.now()), upLongEnough ? PROBE_INTERVAL_MS : instance.startedAt + readiness.minUptimeMs - Date.now());
      await delay(Math.max(1, nextMs), undefined, { signal: wait }).catch(() => undefined);
    }
  } finally {
    instance.off('fatal', onFatal);
  }
}
