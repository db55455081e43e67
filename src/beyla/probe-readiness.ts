// Wait until a new Beyla instance is ready: alive past min uptime, /healthz answering, no fatal line, optionally instrumenting.
import { setTimeout as delay } from 'node:timers/promises';
import { CoralError } from '../errors.js';
import type { ReadinessSettings } from '../config/types.js';
import type { Selector } from '../plan/types.js';
import { HEALTH_PATH, INTERNAL_METRICS_PATH } from '../plan/render-beyla-config.js';
import type { BeylaInstance } from './beyla-instance.js';
import { checkInstrumented } from './check-instrumented.js';
import { fetchText } from './fetch-text.js';

export const PROBE_INTERVAL_MS = 100;
const HTTP_TIMEOUT_MS = 1000;

export interface ProbeReadinessOptions {
  instance: BeylaInstance;
  readiness: ReadinessSettings;
  /** Needed only with readiness.requireInstrumented. */
  selectors: readonly Selector[];
  excludePorts: readonly number[];
  signal: AbortSignal;
}

/**
 * CoralError('BEYLA_FAILED') quoting Beyla's last error-level line, with `details.beyla_error`;
 * never an info or warn line (the cloud SDK's WARN) nor a runtime's trailer.
 */
function failure(instance: BeylaInstance, what: string): CoralError {
  const beylaError = instance.beylaError();
  const message = beylaError ? `${what}: ${beylaError}` : what;
  return new CoralError('BEYLA_FAILED', `Beyla generation ${instance.generation} ${message}`, {
    details: { generation: instance.generation, pid: instance.pid, beyla_error: beylaError, config_file: instance.configFile },
  });
}

/** Resolves when ready; rejects with the reason at the first fatal sign or at the deadline. */
export async function probeReadiness(opts: ProbeReadinessOptions): Promise<void> {
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
  try {
    for (;;) {
      if (opts.signal.aborted) throw new CoralError('BEYLA_FAILED', `Beyla generation ${instance.generation} start abandoned: the supervisor is stopping`);
      if (instance.exit) {
        await instance.exited;
        throw failure(instance, `${instance.describeExit()} before it was ready`);
      }
      if (instance.fatalLine) throw failure(instance, 'logged a fatal line');
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
      const upLongEnough = now - instance.startedAt >= readiness.minUptimeMs;
      if (healthy && instrumented && upLongEnough && instance.running && !instance.fatalLine) return;
      if (Date.now() >= deadline) {
        const waiting = [
          ...(healthy ? [] : [`${HEALTH_PATH} not answering on 127.0.0.1:${instance.ports.health}`]),
          ...missing,
        ];
        throw failure(instance, `not ready within ${readiness.timeoutMs} ms (${waiting.join('; ') || 'minimum uptime not reached'})`);
      }
      const nextMs = Math.min(PROBE_INTERVAL_MS, Math.max(0, deadline - Date.now()), upLongEnough ? PROBE_INTERVAL_MS : instance.startedAt + readiness.minUptimeMs - Date.now());
      await delay(Math.max(1, nextMs), undefined, { signal: wait }).catch(() => undefined);
    }
  } finally {
    instance.off('fatal', onFatal);
  }
}
