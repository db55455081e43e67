// Find Beyla processes left behind by an agent that was killed (their pid records in the runtime dir) and stop them.
import { readFileSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../log.js';
import type { InstancePorts } from '../plan/render-beyla-config.js';
import { instanceRecordPath, recordInstance, recordOwner } from './instance-record.js';
import { outputFifoPaths, removeOutputFifos, stdoutHolders } from './output-fifos.js';
import { processStartTime } from './process-start-time.js';
import { configFilePath } from './write-config-file.js';

const POLL_MS = 50;
/** How long a SIGKILLed process may take to disappear before we give up waiting. */
const KILL_WAIT_MS = 5000;

export interface StopOrphansOptions {
  runtimeDir: string;
  /** Wait this long after SIGTERM before SIGKILL (shutdown_timeout plus the stop margin). */
  graceMs: number;
  logger: Logger;
  signal?: AbortSignal;
  /** Report each live orphan as a `survivor` (left running, record kept) instead of stopping it. */
  keepAlive?: boolean;
}

/**
 * What was found for one record: `stopped` (exited after SIGTERM), `killed` (needed SIGKILL),
 * `survived` (still there after SIGKILL), `gone` (not running), `pid_reused` (the pid now belongs to
 * a process whose command line does not name the record's config file: left alone), `owner_alive`
 * (the agent that started it, by pid and start time, still runs: not an orphan, left alone),
 * `survivor` (with `keepAlive`: alive and verified, left running for the caller to adopt or stop).
 */
export type OrphanAction = 'stopped' | 'killed' | 'survived' | 'gone' | 'pid_reused' | 'owner_alive' | 'survivor';

export interface OrphanReport {
  generation: number;
  pid: number;
  configFile: string;
  action: OrphanAction;
  /** For a survivor: what its record says (start time, config digest, ports), when the agent that wrote it did. */
  startTime?: string;
  digest?: string;
  ports?: InstancePorts;
}

/** True while `pid` exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else; it cannot be ours to stop, but it is running.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The argv of `pid` from /proc, or null when it cannot be read (gone, or no /proc). */
export async function commandLine(pid: number): Promise<string[] | null> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((arg) => arg !== '');
  } catch {
    return null;
  }
}

async function waitGone(pid: number, ms: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isRunning(pid)) {
    if (Date.now() >= deadline || signal?.aborted) return false;
    await delay(POLL_MS);
  }
  return true;
}

function send(pid: number, sig: 'SIGTERM' | 'SIGKILL', log: Logger): void {
  try {
    process.kill(pid, sig);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') log.error({ err: error, pid, signal: sig }, 'could not signal an orphaned Beyla');
  }
}

/** `found` stands in for a record the agent was killed before writing: the pid holding that generation's FIFOs. */
async function handleRecord(opts: StopOrphansOptions, generation: number, recordPath: string, found?: number): Promise<OrphanReport | null> {
  const log = opts.logger;
  const configFile = configFilePath(opts.runtimeDir, generation);
  let text: string;
  try {
    text = found === undefined ? await readFile(recordPath, 'utf8') : `${found}\n`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const pid = Number(text.split('\n')[0]?.trim());
  const report = (action: OrphanAction): OrphanReport => ({ generation, pid, configFile, action });
  const owner = recordOwner(text);
  if (owner && isRunning(owner.pid) && processStartTime(owner.pid) === owner.startTime) {
    log.info({ pid, generation, owner_pid: owner.pid }, 'a Beyla pid record belongs to an agent that is still running: left alone');
    return report('owner_alive');
  }
  let action: OrphanAction;
  if ((!Number.isSafeInteger(pid) || pid <= 1) && found === undefined) {
    // Cut short (an agent killed while writing it): the Beyla may still be found by its output FIFO.
    const holder = await unrecordedHolder(opts, generation);
    if (holder !== undefined) return handleRecord(opts, generation, recordPath, holder);
  }
  if (!Number.isSafeInteger(pid) || pid <= 1) {
    log.warn({ record: recordPath, content: text.slice(0, 40) }, 'ignoring a malformed Beyla pid record');
    action = 'gone';
  } else if (!isRunning(pid)) {
    action = 'gone';
  } else {
    const argv = await commandLine(pid);
    const recorded = recordInstance(text);
    const startTime = processStartTime(pid);
    if (argv === null || !argv.includes(configFile) || (recorded.startTime !== undefined && recorded.startTime !== startTime)) {
      log.info({ pid, generation, config_file: configFile, cmdline: argv?.join(' ').slice(0, 200) }, 'a Beyla pid record names a process that is not that Beyla (pid reused): left alone');
      action = 'pid_reused';
    } else if (opts.keepAlive) {
      log.info({ pid, generation, config_file: configFile }, 'found a Beyla left running by a previous agent: keeping it until the new state is ready');
      return { ...report('survivor'), ...recorded, ...(startTime ? { startTime } : {}) };
    } else {
      log.warn({ pid, generation, config_file: configFile }, 'found a Beyla left running by a previous agent: stopping it');
      send(pid, 'SIGTERM', log);
      if (await waitGone(pid, opts.graceMs, opts.signal)) {
        action = 'stopped';
      } else {
        log.warn({ pid, grace_ms: opts.graceMs }, 'orphaned Beyla did not exit after SIGTERM: sending SIGKILL');
        send(pid, 'SIGKILL', log);
        action = (await waitGone(pid, KILL_WAIT_MS)) ? 'killed' : 'survived';
      }
      if (action === 'survived') log.error({ pid, generation }, 'orphaned Beyla survived SIGKILL');
      else log.info({ pid, generation, how: action }, 'orphaned Beyla stopped');
    }
  }
  if (action !== 'survived') {
    await rm(recordPath, { force: true });
    await rm(configFile, { force: true });
    await removeOutputFifos(outputFifoPaths(opts.runtimeDir, generation));
  }
  return report(action);
}

/** The Beyla of `generation` found without its record: the process whose stdout is that generation's FIFO and whose command line names its config. */
async function unrecordedHolder(opts: StopOrphansOptions, generation: number): Promise<number | undefined> {
  const configFile = configFilePath(opts.runtimeDir, generation);
  for (const pid of await stdoutHolders(outputFifoPaths(opts.runtimeDir, generation).stdout)) {
    if ((await commandLine(pid))?.includes(configFile)) {
      opts.logger.warn({ pid, generation }, 'found a Beyla whose pid record was never written (its agent was killed as it started it), by its output FIFO');
      return pid;
    }
  }
  return undefined;
}

/**
 * Reads every `beyla-<N>.pid` in the runtime dir; stops each process whose owning agent is gone
 * and that is alive with a /proc/<pid>/cmdline containing that generation's config path (SIGTERM, SIGKILL after `graceMs`);
 * never signals a pid whose command line does not match. Removes the records it handled (with their
 * config and output FIFOs), and output FIFOs no record names (an agent killed before it wrote one).
 */
export async function stopOrphans(opts: StopOrphansOptions): Promise<OrphanReport[]> {
  let names: string[];
  try {
    names = await readdir(opts.runtimeDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const records = names
    .map((name) => ({ name, match: /^beyla-(\d+)\.pid$/.exec(name) }))
    .filter((r): r is { name: string; match: RegExpExecArray } => r.match !== null)
    .map((r) => ({ generation: Number(r.match[1]), path: join(opts.runtimeDir, r.name) }));
  const reports = await Promise.all(records.map((r) => handleRecord(opts, r.generation, r.path)));
  // Output FIFOs no record names: an agent killed between starting a Beyla and writing its record.
  // That Beyla would live on unseen (its output never breaks): the process holding the FIFO as its
  // stdout is handled as if the record named it, and FIFOs nobody holds are removed.
  const recorded = new Set(records.map((r) => r.generation));
  const strays = [...new Set(names.map((name) => /^beyla-(\d+)\.(?:stdout|stderr)$/.exec(name)?.[1]).filter((g): g is string => g !== undefined).map(Number))]
    .filter((generation) => !recorded.has(generation));
  for (const generation of strays) {
    const holder = await unrecordedHolder(opts, generation);
    const report = holder === undefined ? null : await handleRecord(opts, generation, instanceRecordPath(opts.runtimeDir, generation), holder);
    if (report) reports.push(report);
    else await removeOutputFifos(outputFifoPaths(opts.runtimeDir, generation));
  }
  return reports.filter((r): r is OrphanReport => r !== null);
}
