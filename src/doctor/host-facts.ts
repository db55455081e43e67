// What the host says about eBPF, read from /proc, /sys, /boot and the unit file under a root (a fixture tree in tests).
import { access, readFile } from 'node:fs/promises';
import type { PortRange } from '../config/types.js';
import { parseReservedPorts } from './port-range-check.js';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface Mount {
  source: string;
  mountpoint: string;
  type: string;
  options: string[];
}

export interface HostFacts {
  root: string;
  /** /proc/sys/kernel/osrelease, e.g. "6.1.0-18-amd64"; undefined when unreadable. */
  release?: string;
  btf: boolean;
  /** CONFIG_* values ('y', 'm', or 'not set'), and the file they came from; undefined when no kernel config is readable. */
  kernelConfig?: { source: string; values: Map<string, string> };
  mounts: Mount[];
  /** Paths of kprobe_events found in a mounted tracefs (either location). */
  kprobeEvents: string[];
  /** e.g. "none", "integrity", "confidentiality"; undefined without securityfs or lockdown support. */
  lockdown?: string;
  unprivilegedBpfDisabled?: number;
  perfEventParanoid?: number;
  /** Soft RLIMIT_MEMLOCK of this process in bytes, 'unlimited', or undefined. */
  memlock?: number | 'unlimited';
  /** Effective capability set of this process (bit mask), from /proc/self/status. */
  capEff?: bigint;
  /** The unit file's text and path, when found. */
  unit?: { path: string; text: string };
  /** net.ipv4.ip_local_port_range and ip_local_reserved_ports (this network namespace's). */
  localPortRange?: [number, number];
  reservedPorts?: PortRange[];
}

async function text(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

function parseKernelConfig(body: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of body.split('\n')) {
    const set = /^(CONFIG_[A-Z0-9_]+)=(.*)$/.exec(line);
    if (set) values.set(set[1] as string, set[2] as string);
    const unset = /^# (CONFIG_[A-Z0-9_]+) is not set$/.exec(line);
    if (unset) values.set(unset[1] as string, 'not set');
  }
  return values;
}

async function kernelConfig(root: string, release: string | undefined): Promise<HostFacts['kernelConfig']> {
  try {
    const gz = await readFile(join(root, 'proc/config.gz'));
    return { source: '/proc/config.gz', values: parseKernelConfig(gunzipSync(gz).toString('utf8')) };
  } catch {
    // no /proc/config.gz (CONFIG_IKCONFIG_PROC off): the distribution's copy in /boot
  }
  if (!release) return undefined;
  const body = await text(join(root, 'boot', `config-${release}`));
  return body === undefined ? undefined : { source: `/boot/config-${release}`, values: parseKernelConfig(body) };
}

function parseMounts(body: string | undefined): Mount[] {
  return (body ?? '').split('\n').filter(Boolean).map((line) => {
    const [source = '', mountpoint = '', type = '', options = ''] = line.split(' ');
    return { source, mountpoint: mountpoint.replace(/\\040/g, ' '), type, options: options.split(',') };
  });
}

function parseMemlock(body: string | undefined): HostFacts['memlock'] {
  const soft = /^Max locked memory\s+(\S+)/m.exec(body ?? '')?.[1];
  if (soft === undefined) return undefined;
  return soft === 'unlimited' ? 'unlimited' : Number(soft);
}

const number = (body: string | undefined): number | undefined => (body === undefined || body.trim() === '' ? undefined : Number(body.trim()));

/** Where the unit file usually is, most specific first. */
export const UNIT_PATHS = ['/etc/systemd/system/coral-agent.service', '/lib/systemd/system/coral-agent.service', '/usr/lib/systemd/system/coral-agent.service'];

/** Reads the facts under `root` ("/" for this host). `unitPath` overrides where the unit file is looked for. */
export async function readHostFacts(root: string, unitPath?: string): Promise<HostFacts> {
  const at = (path: string): string => join(root, path);
  const release = (await text(at('proc/sys/kernel/osrelease')))?.trim();
  const mounts = parseMounts(await text(at('proc/mounts')));
  const tracefsRoots = mounts.filter((m) => m.type === 'tracefs').map((m) => m.mountpoint);
  if (mounts.some((m) => m.type === 'debugfs' && m.mountpoint === '/sys/kernel/debug')) tracefsRoots.push('/sys/kernel/debug/tracing');
  const kprobeEvents: string[] = [];
  for (const dir of [...new Set(tracefsRoots)]) {
    if (await exists(join(root, dir, 'kprobe_events'))) kprobeEvents.push(join(dir, 'kprobe_events'));
  }
  const lockdown = /\[(\w+)\]/.exec((await text(at('sys/kernel/security/lockdown'))) ?? '')?.[1];
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec((await text(at('proc/self/status'))) ?? '')?.[1];
  let unit: HostFacts['unit'];
  for (const path of unitPath ? [unitPath] : UNIT_PATHS.map(at)) {
    const body = await text(path);
    if (body !== undefined) { unit = { path, text: body }; break; }
  }
  const facts: HostFacts = {
    root,
    btf: await exists(at('sys/kernel/btf/vmlinux')),
    mounts,
    kprobeEvents,
    ...(release ? { release } : {}),
    ...(lockdown ? { lockdown } : {}),
    ...(capEff ? { capEff: BigInt(`0x${capEff}`) } : {}),
    ...(unit ? { unit } : {}),
  };
  const config = await kernelConfig(root, release);
  if (config) facts.kernelConfig = config;
  const unpriv = number(await text(at('proc/sys/kernel/unprivileged_bpf_disabled')));
  if (unpriv !== undefined) facts.unprivilegedBpfDisabled = unpriv;
  const paranoid = number(await text(at('proc/sys/kernel/perf_event_paranoid')));
  if (paranoid !== undefined) facts.perfEventParanoid = paranoid;
  const range = /^\s*(\d+)\s+(\d+)\s*$/.exec((await text(at('proc/sys/net/ipv4/ip_local_port_range'))) ?? '');
  if (range) facts.localPortRange = [Number(range[1]), Number(range[2])];
  const reserved = await text(at('proc/sys/net/ipv4/ip_local_reserved_ports'));
  if (reserved !== undefined) facts.reservedPorts = parseReservedPorts(reserved);
  const memlock = parseMemlock(await text(at('proc/self/limits')));
  if (memlock !== undefined) facts.memlock = memlock;
  return facts;
}
