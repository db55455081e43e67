// A real service for tests: a Node process listening on loopback ports the OS picks, stopped (SIGKILL, awaited) after the test.
import { spawn, type ChildProcess } from 'node:child_process';
import type { AfterHook } from './daemon-harness.js';

export interface ListeningProcess {
  child: ChildProcess;
  pid: number;
  /** The ports it listens on, in the order asked. */
  ports: number[];
  /** SIGKILL and await the exit (nothing if it is gone already). */
  stop(): Promise<void>;
}

/** Starts a process listening on `count` ports (default 1; the i-th on `on[i]` when given, else one the OS picks); resolves once every one is bound. */
export async function startListeningProcess(t: AfterHook, count = 1, on: readonly number[] = []): Promise<ListeningProcess> {
  // setpriv --pdeathsig: a test process killed by a file timeout takes it along (t.after does not run then).
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', process.execPath, '-e', `
    const net = require('node:net');
    const on = ${JSON.stringify(on)};
    Promise.all(Array.from({ length: ${count} }, (_, i) => new Promise((ok) => {
      const server = net.createServer((socket) => socket.end());
      server.listen(on[i] ?? 0, '127.0.0.1', () => ok(server.address().port));
    }))).then((ports) => console.log(ports.join(',')));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
    child.kill('SIGKILL');
    await exited;
  };
  t.after(stop);
  const ports = await new Promise<number[]>((resolvePorts, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolvePorts(chunk.toString().trim().split(',').map(Number)));
    child.once('exit', (code, signal) => reject(new Error(`listening process exited (${code ?? signal}) before it listened`)));
  });
  return { child, pid: child.pid ?? 0, ports, stop };
}
