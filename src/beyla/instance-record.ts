// The pid record `<runtimeDir>/beyla-<generation>.pid` kept next to each running instance's config, so a later agent can find orphans.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { processStartTime } from './process-start-time.js';

/** `<runtimeDir>/beyla-<generation>.pid`. */
export function instanceRecordPath(runtimeDir: string, generation: number): string {
  return join(runtimeDir, `beyla-${generation}.pid`);
}

export interface InstanceRecordOptions {
  runtimeDir: string;
  generation: number;
  pid: number;
}

/**
 * Writes Beyla's pid, then `owner <agent pid> <agent start time>` (this process), mode 0600;
 * resolves with the path. A later agent sweeps the instance only once that owner is gone.
 */
export async function instanceRecord(opts: InstanceRecordOptions): Promise<string> {
  const path = instanceRecordPath(opts.runtimeDir, opts.generation);
  await writeFile(path, `${opts.pid}\nowner ${process.pid} ${processStartTime('self') ?? 'unknown'}\n`, { mode: 0o600 });
  return path;
}

/** The owning agent a record names, or undefined for a record without one (older agents wrote only the pid). */
export function recordOwner(text: string): { pid: number; startTime: string } | undefined {
  const match = /^owner (\d+) (\S+)$/m.exec(text);
  return match ? { pid: Number(match[1]), startTime: match[2] ?? '' } : undefined;
}

/** Removes a record once its instance has exited; a record already gone is fine. */
export async function removeInstanceRecord(path: string): Promise<void> {
  await rm(path, { force: true });
}
