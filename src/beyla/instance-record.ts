// The pid record `<runtimeDir>/beyla-<generation>.pid` kept next to each running instance's config, so a later agent can find orphans.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** `<runtimeDir>/beyla-<generation>.pid`. */
export function instanceRecordPath(runtimeDir: string, generation: number): string {
  return join(runtimeDir, `beyla-${generation}.pid`);
}

export interface InstanceRecordOptions {
  runtimeDir: string;
  generation: number;
  pid: number;
}

/** Writes the pid (one line) with mode 0600; resolves with the path. */
export async function instanceRecord(opts: InstanceRecordOptions): Promise<string> {
  const path = instanceRecordPath(opts.runtimeDir, opts.generation);
  await writeFile(path, `${opts.pid}\n`, { mode: 0o600 });
  return path;
}

/** Removes a record once its instance has exited; a record already gone is fine. */
export async function removeInstanceRecord(path: string): Promise<void> {
  await rm(path, { force: true });
}
