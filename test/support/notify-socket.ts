// Test helper: a real NOTIFY_SOCKET (python3 datagram socket; Node has no AF_UNIX SOCK_DGRAM) whose datagrams a test awaits.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

/** One sd_notify datagram as the receiver saw it. */
export interface NotifyDatagram {
  /** Arrival position, from 0. */
  index: number;
  text: string;
  /** `KEY=VALUE` lines split into fields. */
  fields: Record<string, string>;
  /** Sender pid from SCM_CREDENTIALS: what systemd checks for NotifyAccess=main. */
  pid: number | undefined;
  /** CLOCK_MONOTONIC (µs) when the datagram was received. */
  monoUsec: bigint;
}

const DEFAULT_DEADLINE_MS = 5000;

function scriptPath(): string {
  // Next to this file when run from source; from dist/test/support, back in test/support.
  for (const candidate of ['./notify-socket.py', '../../../test/support/notify-socket.py']) {
    const file = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(file)) return file;
  }
  throw new Error('notify-socket.py not found next to notify-socket.ts');
}

function parseFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return fields;
}

export class NotifySocket {
  readonly datagrams: NotifyDatagram[] = [];
  private cursor = 0;
  private readonly listeners = new Set<() => void>();

  private constructor(
    readonly path: string,
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
  ) {}

  /** Binds a datagram socket at `socketPath` (which must not exist) and resolves once it is bound. */
  static async start(socketPath: string): Promise<NotifySocket> {
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'python3', '-u', scriptPath(), socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let capture: NotifySocket | undefined;
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      void exited.then(() => reject(new Error(`notify-socket.py exited before binding ${socketPath}: ${stderr}`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const record = JSON.parse(line) as { bound?: string; text?: string; pid?: number; mono_usec?: number };
        if (record.bound !== undefined) {
          capture = new NotifySocket(socketPath, child, exited);
          resolve();
          return;
        }
        capture?.receive(record);
      });
    });
    return capture!;
  }

  private receive(record: { text?: string; pid?: number; mono_usec?: number }): void {
    const text = record.text ?? '';
    this.datagrams.push({
      index: this.datagrams.length,
      text,
      fields: parseFields(text),
      pid: record.pid,
      monoUsec: BigInt(record.mono_usec ?? 0),
    });
    for (const listener of [...this.listeners]) listener();
  }

  /**
   * The first datagram after the last one `next` returned that matches, or a rejection at the
   * deadline listing what did arrive. Datagrams that do not match are skipped.
   */
  next(predicate: (d: NotifyDatagram) => boolean, deadlineMs = DEFAULT_DEADLINE_MS): Promise<NotifyDatagram> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.datagrams.slice(this.cursor).find(predicate);
        if (!found) return false;
        this.cursor = found.index + 1;
        this.listeners.delete(check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        const seen = this.datagrams.slice(this.cursor).map((d) => d.text);
        reject(new Error(`no matching notify datagram within ${deadlineMs} ms; after the cursor: ${JSON.stringify(seen)}`));
      }, deadlineMs);
      if (!check()) this.listeners.add(check);
    });
  }

  /** Datagrams received after the last one `next` returned. */
  rest(): NotifyDatagram[] {
    return this.datagrams.slice(this.cursor);
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}
