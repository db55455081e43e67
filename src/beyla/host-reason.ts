// Whether a Beyla failure is the host's doing (kernel, kprobes, tracefs, capabilities, memlock), which `coral-agent doctor` explains.

/** Beyla's words for a host that cannot do what it needs. */
const HOST_PATTERNS: readonly RegExp[] = [
  /Unable to load eBPF watcher/i,
  /neither debugfs nor tracefs/i,
  /setting kprobe|kprobe_events|kprobes? (?:are )?not (?:supported|available)/i,
  /operation not permitted/i,
  /\bBTF\b/,
  /memlock|RLIMIT_MEMLOCK/i,
  /kernel lockdown|lockdown mode/i,
  /required capabilit|missing capabilit|CAP_(?:BPF|PERFMON|SYS_ADMIN)/i,
];

export const DOCTOR_HINT = 'Beyla cannot work on this host as it is: run coral-agent doctor';

/** True when a reason Beyla gave points at the host rather than at the configuration. */
export function isHostReason(text: string | undefined): boolean {
  return text !== undefined && HOST_PATTERNS.some((pattern) => pattern.test(text));
}
