// A process's start time from /proc (clock ticks since boot): with its pid, it names one process for good, even after the pid is reused.
import { readFileSync } from 'node:fs';

/** Field 22 of /proc/<pid>/stat, or undefined when the process is gone (or there is no /proc). */
export function processStartTime(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}
