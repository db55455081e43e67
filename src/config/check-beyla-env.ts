// checkBeylaEnv: agent.beyla.env variables refused because they would select processes or override what the agent owns.
import type { PassthroughFinding } from './check-beyla-passthrough.js';

/** Beyla's environment names for the refused keys (BEYLA_ and OTEL_EBPF_ spellings alike), refused in agent.beyla.env. */
const REFUSED_ENV: ReadonlyArray<{ names: readonly string[]; prefix?: boolean; reason: string }> = [
  { names: ['OPEN_PORT', 'AUTO_TARGET_EXE', 'EXECUTABLE_NAME', 'TARGET_PID'], reason: 'it adds a discovery selector on top of the services' },
  { names: ['CONFIG_PATH'], reason: 'it replaces the config file coral-agent writes' },
  { names: ['PROMETHEUS_PORT', 'PROMETHEUS_PATH', 'SHUTDOWN_TIMEOUT'], reason: 'coral-agent sets it for every Beyla instance' },
  { names: ['HEALTH_CHECK_', 'INTERNAL_METRICS_'], prefix: true, reason: 'coral-agent sets it for every Beyla instance' },
  { names: ['PROFILE_PORT'], reason: 'it opens a pprof port on every network interface' },
];

/** Why agent.beyla.env may not set `name`, or undefined. */
export function refusedEnvReason(name: string): string | undefined {
  if (name === 'OTEL_GO_AUTO_TARGET_EXE') return 'it adds an exe_path selector on top of the services';
  if (name === 'NOTIFY_SOCKET') return 'Beyla would speak to systemd for the agent';
  const bare = /^(?:BEYLA_|OTEL_EBPF_)(.*)$/.exec(name)?.[1];
  if (bare === undefined) return undefined;
  return REFUSED_ENV.find((r) => r.names.some((n) => (r.prefix ? bare.startsWith(n) : bare === n)))?.reason;
}

/** agent.beyla.env variables that would select processes or override what the agent owns, as findings (path inside agent.beyla.env). */
export function checkBeylaEnv(env: unknown): PassthroughFinding[] {
  if (typeof env !== 'object' || env === null || Array.isArray(env)) return [];
  return Object.keys(env).flatMap((name) => {
    const reason = refusedEnvReason(name);
    return reason === undefined ? [] : [{ path: [name], at: 'key' as const, severity: 'error' as const, message: `agent.beyla.env.${name} is refused: ${reason}`, hint: 'remove it from agent.beyla.env' }];
  });
}
