// Ends a child process a test started and awaits its exit (for t.after): SIGKILL unless it has exited already.
import type { ChildProcess } from 'node:child_process';

export async function reap(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
  child.ref(); // an unref'd child must still hold the loop until its exit is seen
  child.kill('SIGKILL');
  await exited;
}
