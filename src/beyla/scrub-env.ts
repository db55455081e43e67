// Beyla's environment: an allow-list of the inherited one (PATH, locale, time zone, temp dir), plus agent.beyla.env.

/**
 * Inherited names Beyla always gets. Everything else is dropped: Beyla reads any BEYLA_* and
 * OTEL_EBPF_* variable as config, OTEL_GO_AUTO_TARGET_EXE adds a selector, OTEL_* changes its
 * exporters, NOTIFY_SOCKET would let it speak for the agent to systemd, LD_* changes what it loads.
 */
const ALLOWED_NAMES: ReadonlySet<string> = new Set(['PATH', 'LANG', 'LANGUAGE', 'TZ', 'TZDIR', 'TMPDIR']);

/**
 * The agent's own variable naming more inherited variables to hand on (space or comma separated;
 * `NAME` or `PREFIX*`), e.g. secrets from the unit's EnvironmentFile= that should not sit in coral.yaml.
 */
export const PASS_ENV_VARIABLE = 'CORAL_BEYLA_PASS_ENV';

/** The patterns of CORAL_BEYLA_PASS_ENV; a bare "*" (which would undo the allow-list) and malformed words are ignored. */
export function passEnvPatterns(value: string | undefined): string[] {
  return (value ?? '').split(/[\s,]+/).filter((word) => /^[A-Za-z_][A-Za-z0-9_]*\*?$/.test(word));
}

function matches(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

/** Whether an inherited variable reaches Beyla: PATH, LANG/LANGUAGE/LC_*, TZ/TZDIR, TMPDIR, or one CORAL_BEYLA_PASS_ENV names. */
export function isInheritedEnvName(name: string, passPatterns: readonly string[] = []): boolean {
  return ALLOWED_NAMES.has(name) || /^LC_[A-Z]+$/.test(name) || matches(name, passPatterns);
}

/** The allowed part of `inherited`, then `explicit` (agent.beyla.env, the user's choice) on top. */
export function scrubEnv(inherited: NodeJS.ProcessEnv, explicit: Record<string, string> = {}): Record<string, string> {
  const patterns = passEnvPatterns(inherited[PASS_ENV_VARIABLE]);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(inherited)) {
    if (value !== undefined && isInheritedEnvName(name, patterns)) out[name] = value;
  }
  return { ...out, ...explicit };
}
