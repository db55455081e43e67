// Beyla's environment: the inherited one minus what Beyla would read as config, plus the explicit env.

/** Prefixes and names Beyla (or systemd) would act on if inherited. */
const SCRUBBED_PREFIXES = ['BEYLA_', 'OTEL_EBPF_'];
const SCRUBBED_NAMES = ['NOTIFY_SOCKET'];

export function isScrubbedEnvName(name: string): boolean {
  return SCRUBBED_NAMES.includes(name) || SCRUBBED_PREFIXES.some((prefix) => name.startsWith(prefix));
}

/**
 * A copy of `inherited` without BEYLA_*, OTEL_EBPF_* and NOTIFY_SOCKET, then `explicit` on top
 * (an explicit BEYLA_* from agent.beyla.env is the user's choice and is kept).
 */
export function scrubEnv(inherited: NodeJS.ProcessEnv, explicit: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(inherited)) {
    if (value !== undefined && !isScrubbedEnvName(name)) out[name] = value;
  }
  return { ...out, ...explicit };
}
