// Write one generation's Beyla YAML atomically (temp file, fsync, rename), mode 0600.
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CoralError } from '../errors.js';

export interface WriteConfigFileOptions {
  runtimeDir: string;
  generation: number;
  yaml: string;
}

/** `<runtimeDir>/beyla-<generation>.yaml`. */
export function configFilePath(runtimeDir: string, generation: number): string {
  return join(runtimeDir, `beyla-${generation}.yaml`);
}

export async function writeConfigFile(opts: WriteConfigFileOptions): Promise<string> {
  const path = configFilePath(opts.runtimeDir, opts.generation);
  const temp = `${path}.tmp-${process.pid}`;
  try {
    await mkdir(opts.runtimeDir, { recursive: true, mode: 0o700 });
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(opts.yaml, 'utf8');
      await handle.chmod(0o600);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    return path;
  } catch (error) {
    await rm(temp, { force: true });
    throw new CoralError('CANT_CREATE', `cannot write Beyla config ${path}`, {
      hint: 'check that the runtime directory exists and is writable by coral-agent',
      details: { path },
      cause: error,
    });
  }
}

/** Remove an instance's config once it has exited; a file already gone is fine. */
export async function removeConfigFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
