// The driver's side of adopting a survivor: check it is alive, answers /healthz and instruments what it must, then report it as a candidate.
import { setTimeout as delay } from 'node:timers/promises';
import { exeGlobMatcher } from '../config/exe-glob.js';
import type { Effect } from '../lifecycle/types.js';
import { subtractPorts } from '../plan/format-ports.js';
import { HEALTH_PATH, INTERNAL_METRICS_PATH } from '../plan/render-beyla-config.js';
import { checkInstrumented } from './check-instrumented.js';
import { fetchText } from './fetch-text.js';
import { findListeners } from './find-listeners.js';
import { PROBE_INTERVAL_MS } from './probe-readiness.js';
import type { CandidateHost } from './run-candidate.js';

const HTTP_TIMEOUT_MS = 1000;

/** Performs an 'adopt' effect: 'spawned' at once, then 'ready' or 'not-ready' within the readiness timeout. */
export async function runAdoption(host: CandidateHost, effect: Extract<Effect, { type: 'adopt' }>): Promise<void> {
  const { generation, target } = effect;
  const instance = host.instances.get(generation);
  if (!instance?.adopted || !instance.running) {
    host.enqueue(() => ({ type: 'spawn-failed', at: Date.now(), generation, message: `Beyla generation ${generation} exited before it could be adopted` }));
    return;
  }
  host.enqueue(() => ({ type: 'spawned', at: Date.now(), generation, pid: effect.pid }));
  // As for a spawned instance: a fatal line once it is active replaces it (one while a candidate fails the check below).
  instance.on('fatal', (line) => host.enqueue(() => ({ type: 'fatal', at: Date.now(), generation, line })));
  const probe = new AbortController();
  host.probes.set(generation, probe);
  const signal = AbortSignal.any([probe.signal, host.abort.signal]);
  const deadline = Date.now() + target.settings.readiness.timeoutMs;
  const selectors = target.desired.selectors;
  const excludePorts = [...host.excludePorts];
  let waiting = `${HEALTH_PATH} not answering on 127.0.0.1:${instance.ports.health}`;
  try {
    while (!signal.aborted) {
      if (!instance.running) {
        waiting = 'it exited';
        break;
      }
      if (instance.fatalLine !== null) {
        waiting = `it logged: ${instance.fatalLine}`;
        break;
      }
      const base = 'http://127.0.0.1:';
      const healthy = await fetchText(`${base}${instance.ports.health}${HEALTH_PATH}`, { timeoutMs: HTTP_TIMEOUT_MS, signal }).then(() => true, () => false);
      if (healthy) {
        const text = await fetchText(`${base}${instance.ports.internal}${INTERNAL_METRICS_PATH}`, { timeoutMs: HTTP_TIMEOUT_MS, signal }).catch(() => '');
        const check = await checkInstrumented({ selectors, excludePorts, internalMetricsText: text, selfPid: process.pid });
        if (check.covered) {
          await noteInstrumented(instance.instrumented, selectors, excludePorts);
          if (instance.fatalLine !== null) {
            waiting = `it logged: ${instance.fatalLine}`;
            break;
          }
          host.log.info({ generation, pid: effect.pid, ports: instance.ports }, 'Beyla left by a previous agent answers /healthz and instruments every selected listener: adopting it');
          host.enqueue(() => ({ type: 'ready', at: Date.now(), generation }));
          return;
        }
        waiting = check.missing.join('; ');
      }
      if (Date.now() >= deadline) break;
      await delay(PROBE_INTERVAL_MS, undefined, { signal }).catch(() => undefined);
    }
    if (signal.aborted) return; // stopped on purpose: the lifecycle already knows
    const message = `Beyla generation ${generation} (left by a previous agent) not adopted: ${waiting}`;
    host.enqueue(() => ({ type: 'not-ready', at: Date.now(), generation, message, cannotRun: false }));
  } finally {
    host.probes.delete(generation);
  }
}

/** What the adoption check saw, as the instance's instrumented processes (for status and the coverage gauges): every selected listener. */
async function noteInstrumented(into: { add(fields: Record<string, string>, at: number): void }, selectors: CandidateSelectors, excludePorts: number[]): Promise<void> {
  const ranges = selectors.map((s) => ({ ports: subtractPorts(s.openPorts, excludePorts), exe: s.exePath ? exeGlobMatcher(s.exePath) ?? /(?!)/ : undefined, service: s.services[0] ?? '' }));
  const inRanges = (r: (typeof ranges)[number], port: number): boolean => r.ports.some((p) => port >= p.from && port <= p.to);
  for (const l of await findListeners((port) => ranges.some((r) => inRanges(r, port)))) {
    const r = ranges.find((x) => inRanges(x, l.port) && (!x.exe || x.exe.test(l.exe ?? '')));
    if (r && l.pid !== undefined && l.pid !== process.pid) into.add({ beyla_pid: String(l.pid), cmd: l.exe ?? l.name ?? '', service: r.service }, Date.now());
  }
}

type CandidateSelectors = Extract<Effect, { type: 'adopt' }>['target']['desired']['selectors'];
