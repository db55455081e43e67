// runAttempt: one attempt of a health check (TCP connect or HTTP GET) on one loopback address, as an Attempt for stepAttempt.
import { checkHttp } from './check-http.js';
import { checkTcp } from './check-tcp.js';
import type { Probe } from './probe-of.js';
import type { Attempt, LoopbackHost } from './step-attempt.js';

export interface RunAttemptOptions {
  probe: Probe;
  host: LoopbackHost;
  timeoutMs: number;
  signal: AbortSignal;
}

/** Never rejects: a failed check is the attempt's error. */
export async function runAttempt(opts: RunAttemptOptions): Promise<Attempt> {
  const { probe, host } = opts;
  const base = { host, port: probe.port, timeoutMs: opts.timeoutMs, signal: opts.signal };
  const latest: Attempt = { host };
  try {
    await (probe.kind === 'http' ? checkHttp({ ...base, path: probe.path }) : checkTcp(base));
  } catch (error) {
    latest.error = error instanceof Error ? error : new Error(String(error));
  }
  return latest;
}
