// The pid record `<runtimeDir>/beyla-<generation>.pid` kept next to each running instance's config, so a later agent can find (and adopt) it.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InstancePorts } from '../plan/render-beyla-config.js';
import { processStartTime } from './process-start-time.js';

/** `<runtimeDir>/beyla-<generation>.pid`. */
export function instanceRecordPath(runtimeDir: string, generation: number): string {
  return join(runtimeDir, `beyla-${generation}.pid`);
}

export interface InstanceRecordOptions {
  runtimeDir: string;
  generation: number;
  pid: number;
  /** What a later agent needs to adopt the instance: the digest of its config (Target.digest) and its own ports. */
  digest?: string;
  ports?: InstancePorts;
}

/**
 * Writes Beyla's pid, then `owner <agent pid> <agent start time>` (this process), `start <Beyla's
 * start time>`, `digest <sha256>` and `ports <metrics> <health> <internal>`, mode 0600; resolves
 * with the path. A later agent sweeps or adopts the instance only once that owner is gone.
 */
export async function instanceRecord(opts: InstanceRecordOptions): Promise<string> {
  const path = instanceRecordPath(opts.runtimeDir, opts.generation);
  const lines = [String(opts.pid), `owner ${process.pid} ${processStartTime('self') ?? 'unknown'}`, `start ${processStartTime(opts.pid) ?? 'unknown'}`];
  if (opts.digest) lines.push(`digest ${opts.digest}`);
  if (opts.ports) lines.push(`ports ${opts.ports.metrics} ${opts.ports.health} ${opts.ports.internal}`);
  await writeFile(path, `${lines.join('\n')}\n`, { mode: 0o600 });
  return path;
}

/** The owning agent a record names, or undefined for a record without one (older agents wrote only the pid). */
export function recordOwner(text: string): { pid: number; startTime: string } | undefined {
  const match = /^owner (\d+) (\S+)$/m.exec(text);
  return match ? { pid: Number(match[1]), startTime: match[2] ?? '' } : undefined;
}

/** What a record says about its Beyla for adoption; fields an older agent did not write are undefined. */
export function recordInstance(text: string): { startTime?: string; digest?: string; ports?: InstancePorts } {
  const start = /^start (\d+)$/m.exec(text)?.[1];
  const digest = /^digest ([0-9a-f]{64})$/m.exec(text)?.[1];
  const ports = /^ports (\d+) (\d+) (\d+)$/m.exec(text);
  return {
    ...(start ? { startTime: start } : {}),
    ...(digest ? { digest } : {}),
    ...(ports ? { ports: { metrics: Number(ports[1]), health: Number(ports[2]), internal: Number(ports[3]) } } : {}),
  };
}

/** Removes a record once its instance has exited; a record already gone is fine. */
export async function removeInstanceRecord(path: string): Promise<void> {
  await rm(path, { force: true });
}
