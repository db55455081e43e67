// Samples telemetry coverage: a configured port counts as covered only while a live, serving Beyla has instrumented the process listening on it.
import { setTimeout as delay } from 'node:timers/promises';
import type { BeylaSupervisor } from '../../src/beyla/supervisor.js';
import { isAlive } from './daemon-harness.js';

export interface CoverageSample {
  at: number;
  /** Ports checked in this sample (their owner was instrumented once already), and those no live instance instruments. */
  checked: number[];
  uncovered: number[];
}

/**
 * Reads the agent's log records (Beyla's `instrumenting process` lines carry instance_pid and
 * beyla_pid) and the supervisor's status (which instances are active or candidate, and alive)
 * every `everyMs`. A port is checked from the first time any instance instrumented its owner after
 * the port was configured (a freshly started or added service is not a swap gap), until it leaves `owners()`.
 */
export class InstrumentationSampler {
  readonly samples: CoverageSample[] = [];
  private running = true;
  private readonly loop: Promise<void>;
  /** Configured port -> index of the first log line after it was configured, and whether its owner was instrumented since. */
  private readonly tracked = new Map<number, { owner: number; fromLine: number; seen: boolean }>();

  constructor(private readonly opts: {
    /** The supervisor whose active and candidate instances serve; or, for an agent in another process, `servingPids`. */
    sup?: BeylaSupervisor;
    /** Pids of the Beyla instances that serve now (e.g. every live Beyla double while the agent is down). */
    servingPids?: () => number[] | Promise<number[]>;
    logs: ReadonlyArray<Record<string, unknown>>;
    /** Configured port -> pid of the process listening on it. */
    owners: () => ReadonlyMap<number, number>;
    everyMs?: number;
    /** For the ports configured at the first sample: the log index from which an instrumenting line counts (default: the end of the log then). */
    since?: number;
  }) {
    this.loop = this.poll();
  }

  /** Instance pid -> pids it has logged as instrumented. */
  private instrumentedBy(): Map<number, Set<number>> {
    const out = new Map<number, Set<number>>();
    for (const line of this.opts.logs) {
      if (line.msg !== 'instrumenting process') continue;
      const instance = Number(line.instance_pid);
      const pid = Number(line.beyla_pid);
      out.set(instance, (out.get(instance) ?? new Set()).add(pid));
    }
    return out;
  }

  private async poll(): Promise<void> {
    while (this.running) {
      const pids = this.opts.servingPids ? await this.opts.servingPids() : (this.opts.sup?.status().instances ?? [])
        .filter((i) => (i.role === 'active' || i.role === 'candidate') && i.pid !== null)
        .map((i) => i.pid ?? 0);
      // Read after the await, with no await until `seen` below: both see the same log. Read before it, an
      // `instrumenting process` line that arrived during the await made its port checked but not covered.
      const by = this.instrumentedBy();
      const serving = pids.filter(isAlive).map((pid) => by.get(pid) ?? new Set<number>());
      const checked: number[] = [];
      const uncovered: number[] = [];
      const owners = this.opts.owners();
      for (const port of this.tracked.keys()) if (owners.get(port) !== this.tracked.get(port)?.owner) this.tracked.delete(port);
      for (const [port, owner] of owners) {
        const track = this.tracked.get(port) ?? { owner, fromLine: this.samples.length === 0 ? this.opts.since ?? this.opts.logs.length : this.opts.logs.length, seen: false };
        this.tracked.set(port, track);
        if (!track.seen) {
          track.seen = this.opts.logs.slice(track.fromLine).some((l) => l.msg === 'instrumenting process' && Number(l.beyla_pid) === owner);
          if (track.seen) this.tracked.set(port, track);
        }
        if (!track.seen || !isAlive(owner)) continue;
        checked.push(port);
        if (!serving.some((set) => set.has(owner))) uncovered.push(port);
      }
      this.samples.push({ at: Date.now(), checked, uncovered });
      // Unref'd: a test that fails before its stop() must not be kept alive by the sampler until the file's timeout.
      await delay(this.opts.everyMs ?? 50, undefined, { ref: false });
    }
  }

  async stop(): Promise<CoverageSample[]> {
    this.running = false;
    await this.loop;
    return this.samples;
  }

  /** Samples where some checked port was not instrumented by a serving instance. */
  gaps(): CoverageSample[] {
    return this.samples.filter((s) => s.uncovered.length > 0);
  }
}
