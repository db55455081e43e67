// The daemon's status document (control API GET /v1/status, coral status): settings, desired and applied ports, Beyla, health.
import { formatRanges, mergeRanges } from '../config/ports.js';
import type { AgentSettings, Diagnostic, Snapshot } from '../config/types.js';
import type { SupervisorStatus } from '../beyla/supervisor.js';
import type { ReconcilerProgress } from '../reconcile/reconciler.js';
import { describePhase } from './daemon-phase.js';
import type { ReconcileResult } from './reconcile-run.js';

export interface DaemonStatusInput {
  ready: boolean;
  pid: number;
  startedAt: Date;
  settings: AgentSettings;
  snapshot: Snapshot | undefined;
  lastResult: ReconcileResult | undefined;
  pending: boolean;
  /** The reconciler's state; default: nothing running or pending. */
  progress?: ReconcilerProgress;
  beyla: SupervisorStatus;
  /** When each invalid file turned invalid. */
  rejectedSince?: (file: string) => string | undefined;
  health: unknown;
  /** Set while running on the saved last good configuration. */
  /** Warnings about the host found at start (the unit's IP firewall against metrics.listen). */
  hostWarnings?: Diagnostic[];
  degraded?: { error: string; file: string; line: number; col: number; savedAt: string; since: string } | undefined;
  statusLine: string;
}

export function describeDaemon(input: DaemonStatusInput): Record<string, unknown> {
  const { beyla, snapshot, lastResult, settings } = input;
  const desiredPorts = mergeRanges((snapshot?.services ?? []).flatMap((s) => s.ports));
  return {
    state: !input.ready ? 'starting' : input.degraded || beyla.state === 'degraded' ? 'degraded' : 'ready',
    ...(input.degraded ? { degraded: { ...input.degraded, reason: `${input.degraded.error}; running on the last good configuration saved at ${input.degraded.savedAt}` } } : {}),
    pid: input.pid,
    startedAt: input.startedAt.toISOString(),
    config: settings.configPath,
    servicesDir: settings.servicesDir,
    // One generation everywhere: the active Beyla's (a crash restart or a swap changes it).
    generation: beyla.generation,
    phase: describePhase(input.progress ?? { running: false, pending: input.pending }, beyla, Date.now()),
    statusLine: input.statusLine,
    desired: {
      ports: formatRanges(desiredPorts),
      services: (snapshot?.services ?? []).map((s) => ({
        name: s.name, ports: formatRanges(s.ports), exe: s.exe, type: s.type,
        health: s.health.kind === 'http' ? `http:${s.health.path ?? '/'}` : s.health.kind,
        source: `${s.source.file}:${s.source.line}`,
      })),
    },
    applied: { ports: beyla.portsString, generation: beyla.generation, at: lastResult?.at },
    pending: input.pending,
    beyla,
    rejected: (snapshot?.files ?? []).filter((f) => f.status !== 'valid').map((f) => {
      const since = input.rejectedSince?.(f.file);
      // 'stale': invalid now, its last good services still in effect (listed in desired.services).
      return { file: f.file, status: f.status, ...(since ? { since } : {}), services: f.services.map((s) => s.name), errors: f.errors };
    }),
    warnings: [...(input.hostWarnings ?? []), ...(snapshot?.diagnostics ?? []).filter((d) => d.severity === 'warning')],
    health: input.health,
    lastReconcile: lastResult ? { ok: lastResult.ok, message: lastResult.message, at: lastResult.at, result: lastResult.beyla.result } : undefined,
  };
}
