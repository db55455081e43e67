// The host facts judged against what Beyla needs: one ok / warn / fail result per check, with what to do.
import type { HostFacts } from './host-facts.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  id: string;
  title: string;
  status: CheckStatus;
  message: string;
  /** What to do about a warn or fail. */
  hint?: string;
}

const result = (id: string, title: string, status: CheckStatus, message: string, hint?: string): CheckResult => ({ id, title, status, message, ...(hint ? { hint } : {}) });

/** "6.1.0-18-amd64" -> [6, 1]. */
export function kernelVersion(release: string | undefined): [number, number] | undefined {
  const match = /^(\d+)\.(\d+)/.exec(release ?? '');
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

const atLeast = (v: [number, number], major: number, minor: number): boolean => v[0] > major || (v[0] === major && v[1] >= minor);

function kernel(f: HostFacts): CheckResult {
  const v = kernelVersion(f.release);
  if (!v) return result('kernel', 'kernel', 'warn', 'cannot read the kernel release (/proc/sys/kernel/osrelease)');
  if (atLeast(v, 5, 8)) return result('kernel', 'kernel', 'ok', `${f.release} (Beyla needs 5.8 or later)`);
  if (v[0] === 4 && v[1] === 18 && /el8/.test(f.release ?? '')) return result('kernel', 'kernel', 'ok', `${f.release} (RHEL 8's 4.18, which Beyla supports)`);
  return result('kernel', 'kernel', 'fail', `${f.release} is older than 5.8 (and not RHEL 8's 4.18)`, 'Beyla needs Linux 5.8 or later with BTF; upgrade the kernel');
}

function btf(f: HostFacts): CheckResult {
  return f.btf
    ? result('btf', 'BTF', 'ok', '/sys/kernel/btf/vmlinux present')
    : result('btf', 'BTF', 'fail', 'no /sys/kernel/btf/vmlinux: the kernel has no BTF type information', 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distributions\' kernels since 2021)');
}

function kprobes(f: HostFacts): CheckResult {
  const cannot = 'Beyla cannot discover processes here (it watches process events through kprobes)';
  const config = f.kernelConfig?.values;
  const where = f.kernelConfig?.source;
  const hint = 'run Beyla on a kernel built with CONFIG_KPROBES=y and CONFIG_KPROBE_EVENTS=y';
  if (config?.get('CONFIG_KPROBES') === 'not set' || (config && !config.has('CONFIG_KPROBES'))) {
    return result('kprobes', 'kprobes', 'fail', `kprobes unavailable: CONFIG_KPROBES is not set (${where}): ${cannot}`, hint);
  }
  if (config?.get('CONFIG_KPROBE_EVENTS') === 'not set') {
    return result('kprobes', 'kprobes', 'fail', `kprobes unavailable: CONFIG_KPROBE_EVENTS is not set (${where}): ${cannot}`, hint);
  }
  if (f.kprobeEvents.length > 0) return result('kprobes', 'kprobes', 'ok', `${f.kprobeEvents[0]} present${where ? `, CONFIG_KPROBES=y (${where})` : ''}`);
  const tracefs = f.mounts.some((m) => m.type === 'tracefs' || m.type === 'debugfs');
  if (config?.get('CONFIG_KPROBES') === 'y') {
    return tracefs
      ? result('kprobes', 'kprobes', 'fail', `CONFIG_KPROBES=y (${where}) but no kprobe_events in the mounted tracefs: ${cannot}`, hint)
      : result('kprobes', 'kprobes', 'ok', `CONFIG_KPROBES=y (${where}); kprobe_events shows once tracefs is mounted`);
  }
  return result('kprobes', 'kprobes', 'warn', 'cannot tell: no kernel config (/proc/config.gz, /boot/config-*) and no kprobe_events in a mounted tracefs', 'mount tracefs (mount -t tracefs nodev /sys/kernel/tracing) and run doctor again');
}

/** The unit's directives, last value per name (multi-valued ones joined by a space). */
export function unitDirectives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match) continue;
    const [, name = '', value = ''] = match;
    out.set(name, [...(out.get(name) ?? []), value]);
  }
  return out;
}

function tracefs(f: HostFacts): CheckResult {
  const mount = f.mounts.find((m) => m.type === 'tracefs') ?? f.mounts.find((m) => m.type === 'debugfs');
  if (!mount) {
    return result('tracefs', 'tracefs', 'fail', 'neither tracefs nor debugfs is mounted (Beyla attaches kprobes through it)', 'mount -t tracefs nodev /sys/kernel/tracing (or add it to /etc/fstab)');
  }
  const directives = f.unit ? unitDirectives(f.unit.text) : undefined;
  const tunables = directives?.get('ProtectKernelTunables')?.at(-1);
  if (tunables && /^(yes|true|1|on)$/i.test(tunables)) {
    return result('tracefs', 'tracefs', 'fail', `${mount.type} at ${mount.mountpoint}, but ${f.unit?.path} sets ProtectKernelTunables=yes: Beyla cannot write kprobe_events`, 'remove ProtectKernelTunables=yes from the unit (or a drop-in that sets it)');
  }
  const hidden = (directives?.get('InaccessiblePaths') ?? []).join(' ').split(/\s+/).find((p) => p && mount.mountpoint.startsWith(p.replace(/^-/, '')));
  if (hidden) return result('tracefs', 'tracefs', 'fail', `${mount.type} at ${mount.mountpoint}, but the unit makes ${hidden} inaccessible`, 'remove it from InaccessiblePaths=');
  return result('tracefs', 'tracefs', 'ok', `${mount.type} mounted at ${mount.mountpoint}${f.unit ? ', visible to the unit' : ''}`);
}

function bpffs(f: HostFacts): CheckResult {
  const mount = f.mounts.find((m) => m.type === 'bpf');
  return mount
    ? result('bpffs', 'bpffs', 'ok', `mounted at ${mount.mountpoint}`)
    : result('bpffs', 'bpffs', 'warn', 'no bpf filesystem mounted: Beyla pins maps under ebpf.bpf_fs_path (/sys/fs/bpf)', 'mount -t bpf bpf /sys/fs/bpf');
}

/** Beyla's capabilities (SYS_RESOURCE only before 5.11). */
export function requiredCapabilities(release: string | undefined): string[] {
  const caps = ['BPF', 'PERFMON', 'NET_ADMIN', 'NET_RAW', 'DAC_READ_SEARCH', 'CHECKPOINT_RESTORE', 'SYS_PTRACE', 'SYS_ADMIN'];
  const v = kernelVersion(release);
  if (!v || !atLeast(v, 5, 11)) caps.push('SYS_RESOURCE');
  return caps;
}

/** The capabilities the unit's CapabilityBoundingSet= lines leave (undefined: not restricted). */
export function unitCapabilities(text: string): Set<string> | undefined {
  let set: Set<string> | undefined;
  for (const value of unitDirectives(text).get('CapabilityBoundingSet') ?? []) {
    const deny = value.startsWith('~');
    const names = value.replace(/^~/, '').split(/\s+/).filter(Boolean).map((n) => n.replace(/^CAP_/, ''));
    if (value === '') { set = new Set(); continue; }
    if (deny) {
      set ??= new Set(requiredCapabilities(undefined));
      for (const n of names) set.delete(n);
    } else {
      set = new Set([...(set ?? []), ...names]);
    }
  }
  return set;
}

function capabilities(f: HostFacts): CheckResult {
  const needed = requiredCapabilities(f.release);
  if (!f.unit) return result('capabilities', 'capabilities', 'warn', 'no coral-agent.service found: cannot tell which capabilities Beyla gets', 'pass --unit PATH');
  const directives = unitDirectives(f.unit.text);
  const user = directives.get('User')?.at(-1);
  if (user && user !== 'root' && user !== '0' && (directives.get('AmbientCapabilities') ?? []).join('') === '') {
    return result('capabilities', 'capabilities', 'fail', `${f.unit.path} runs as ${user} without AmbientCapabilities=: Beyla gets none of ${needed.join(', ')}`, 'run the unit as root (the default) or grant them in AmbientCapabilities=');
  }
  const granted = unitCapabilities(f.unit.text);
  const missing = granted ? needed.filter((c) => !granted.has(c)) : [];
  if (missing.length > 0) {
    return result('capabilities', 'capabilities', 'fail', `${f.unit.path} does not grant ${missing.map((c) => `CAP_${c}`).join(', ')}`, 'add them to CapabilityBoundingSet=');
  }
  return result('capabilities', 'capabilities', 'ok', `the unit grants ${needed.map((c) => `CAP_${c}`).join(' ')}`);
}

function lockdown(f: HostFacts): CheckResult {
  if (!f.lockdown || f.lockdown === 'none') return result('lockdown', 'kernel lockdown', 'ok', f.lockdown ? 'none' : 'not enabled (no /sys/kernel/security/lockdown)');
  if (f.lockdown === 'integrity') return result('lockdown', 'kernel lockdown', 'warn', 'integrity: some probes may be refused', 'boot with lockdown=none if Beyla logs "operation not permitted"');
  return result('lockdown', 'kernel lockdown', 'fail', `${f.lockdown}: the kernel refuses eBPF reads of kernel memory`, 'boot with lockdown=none or lockdown=integrity');
}

function sysctls(f: HostFacts): CheckResult[] {
  const unpriv = f.unprivilegedBpfDisabled;
  const paranoid = f.perfEventParanoid;
  return [
    result('unprivileged_bpf_disabled', 'kernel.unprivileged_bpf_disabled', 'ok', unpriv === undefined ? 'unknown' : `${unpriv} (Beyla runs privileged: not affected)`),
    result('perf_event_paranoid', 'kernel.perf_event_paranoid', 'ok', paranoid === undefined ? 'unknown' : `${paranoid} (CAP_PERFMON lets Beyla open perf events whatever the level)`),
  ];
}

function memlock(f: HostFacts): CheckResult {
  const v = kernelVersion(f.release);
  if (v && atLeast(v, 5, 11)) return result('memlock', 'memlock limit', 'ok', 'not needed: Linux 5.11+ charges eBPF memory to the cgroup');
  const unitLimit = f.unit ? unitDirectives(f.unit.text).get('LimitMEMLOCK')?.at(-1) : undefined;
  if (unitLimit === 'infinity' || f.memlock === 'unlimited') return result('memlock', 'memlock limit', 'ok', unitLimit ? `LimitMEMLOCK=${unitLimit} in the unit` : 'unlimited');
  return result('memlock', 'memlock limit', 'fail', `RLIMIT_MEMLOCK is ${f.memlock ?? 'unknown'} bytes on a kernel before 5.11: eBPF maps will not load`, 'set LimitMEMLOCK=infinity in the unit (or grant CAP_SYS_RESOURCE)');
}

/** Every host check, in the order printed. */
export function hostChecks(f: HostFacts): CheckResult[] {
  return [kernel(f), btf(f), kprobes(f), tracefs(f), bpffs(f), capabilities(f), lockdown(f), ...sysctls(f), memlock(f)];
}
