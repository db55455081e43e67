// The named FIFOs `<runtimeDir>/beyla-<generation>.stdout|.stderr` that carry one instance's output: made by the agent, held open by Beyla, read by whichever agent supervises it.
import { execFile } from 'node:child_process';
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { CoralError } from '../errors.js';

const run = promisify(execFile);

export interface OutputFifos {
  stdout: string;
  stderr: string;
}

/** `<runtimeDir>/beyla-<generation>.stdout` and `.stderr`. */
export function outputFifoPaths(runtimeDir: string, generation: number): OutputFifos {
  return { stdout: join(runtimeDir, `beyla-${generation}.stdout`), stderr: join(runtimeDir, `beyla-${generation}.stderr`) };
}

/** Makes both FIFOs (mode 0600), replacing any left by an earlier agent; resolves with their paths. */
export async function createOutputFifos(runtimeDir: string, generation: number): Promise<OutputFifos> {
  const paths = outputFifoPaths(runtimeDir, generation);
  try {
    await removeOutputFifos(paths);
    // Node has no mkfifo(3); coreutils' mkfifo is on every host coral-agent supports.
    await run('mkfifo', ['-m', '0600', paths.stdout, paths.stderr], { timeout: 5000 });
    return paths;
  } catch (error) {
    await removeOutputFifos(paths).catch(() => undefined);
    throw new CoralError('CANT_CREATE', `cannot create the output FIFOs of Beyla generation ${generation} in ${runtimeDir}`, {
      hint: 'check that mkfifo is on PATH and the runtime directory is writable by coral-agent', details: { paths }, cause: error,
    });
  }
}

/**
 * Beyla's ends: each FIFO opened read-write (Linux opens a FIFO O_RDWR without waiting for a
 * reader, fifo(7)), blocking, as its fd 1 and 2. Holding a read end itself, Beyla never writes to a
 * FIFO without a reader, so no write of its gets EPIPE (and no SIGPIPE kills it) while no agent
 * runs; once 64 KiB are unread, its writes block until an agent reads again.
 */
export function openBeylaEnds(paths: OutputFifos): [number, number] {
  const flags = constants.O_RDWR | constants.O_NOCTTY | constants.O_NOFOLLOW;
  const out = openFifo(paths.stdout, flags);
  try {
    return [out, openFifo(paths.stderr, flags)];
  } catch (error) {
    closeSync(out);
    throw error;
  }
}

/** The agent's end of one FIFO: opened O_RDONLY|O_NONBLOCK (never waits for a writer), as a readable stream. */
export function openReadEnd(path: string): Readable {
  const fd = openFifo(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  return new Socket({ fd, readable: true, writable: false });
}

/** Opens `path` with `flags`; throws unless it is a FIFO (never a file or device planted in its place). */
function openFifo(path: string, flags: number): number {
  const fd = openSync(path, flags);
  if (!fstatSync(fd).isFIFO()) {
    closeSync(fd);
    throw new CoralError('INTERNAL', `${path} is not a FIFO`, { details: { path } });
  }
  return fd;
}

/** The FIFOs of `generation` when they are what `pid`'s fd 1 and 2 are (a survivor started with them), else undefined. */
export async function fifosHeldBy(runtimeDir: string, generation: number, pid: number): Promise<OutputFifos | undefined> {
  const paths = outputFifoPaths(runtimeDir, generation);
  const same = async (fd: number, path: string): Promise<boolean> => {
    const [held, named] = await Promise.all([stat(`/proc/${pid}/fd/${fd}`), stat(path)]);
    return named.isFIFO() && held.ino === named.ino && held.dev === named.dev;
  };
  try {
    return (await same(1, paths.stdout)) && (await same(2, paths.stderr)) ? paths : undefined;
  } catch {
    return undefined; // a FIFO missing, or fds not readable: its output cannot be followed
  }
}

/** Pids (lowest first) whose fd 1 is the FIFO at `path`, from /proc: the Beyla a record was not written for, and any child sharing its stdout. */
export async function stdoutHolders(path: string): Promise<number[]> {
  let named;
  try {
    named = await stat(path);
  } catch {
    return [];
  }
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number).filter((pid) => pid !== process.pid);
  const held = await Promise.all(pids.map((pid) => stat(`/proc/${pid}/fd/1`).then((s) => s.ino === named.ino && s.dev === named.dev, () => false)));
  return pids.filter((_, i) => held[i]).sort((a, b) => a - b);
}

/** Removes both FIFOs; one already gone is fine. */
export async function removeOutputFifos(paths: OutputFifos): Promise<void> {
  await Promise.all([rm(paths.stdout, { force: true }), rm(paths.stderr, { force: true })]);
}
