// The processes one Beyla instance says it instruments (its `instrumenting process` log lines), each with its start time against pid reuse.
import { readFile } from 'node:fs/promises';

export interface InstrumentedProcess {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot) when the line was seen; null when unreadable. */
  startTime: string | null;
  cmd: string;
  service: string;
  /** When the line was seen (ms since epoch). */
  at: number;
}

/** A process's start time, or null when it is gone or unreadable. */
export async function processStartTime(pid: number, procRoot = '/proc'): Promise<string | null> {
  try {
    const stat = await readFile(`${procRoot}/${pid}/stat`, 'utf8');
    // The command (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the process seen then is still the one running under that pid. */
export async function stillRunning(p: Pick<InstrumentedProcess, 'pid' | 'startTime'>, procRoot = '/proc'): Promise<boolean> {
  const now = await processStartTime(p.pid, procRoot);
  return now !== null && (p.startTime === null || now === p.startTime);
}

export class InstrumentedProcesses {
  private readonly byPid = new Map<number, InstrumentedProcess>();
  private pending: Promise<void> = Promise.resolve();

  /** Records one `instrumenting process` line (parsed fields: beyla_pid, cmd, service). */
  add(fields: Readonly<Record<string, string>>, at: number, procRoot = '/proc'): void {
    const pid = Number(fields.beyla_pid ?? fields.pid);
    if (!Number.isInteger(pid) || pid <= 0) return;
    const entry: InstrumentedProcess = { pid, startTime: null, cmd: fields.cmd ?? '', service: fields.service ?? '', at };
    this.byPid.set(pid, entry);
    this.pending = this.pending.then(async () => {
      const startTime = await processStartTime(pid, procRoot);
      if (this.byPid.get(pid) === entry) this.byPid.set(pid, { ...entry, startTime });
    });
  }

  /** Every process seen so far (start times read). */
  async list(): Promise<InstrumentedProcess[]> {
    await this.pending;
    return [...this.byPid.values()];
  }

  /** The processes seen so far, without waiting for start times. */
  snapshot(): InstrumentedProcess[] {
    return [...this.byPid.values()];
  }
}
