// A NOTIFY_SOCKET stand-in for daemon tests: a python3 datagram socket (Node has no AF_UNIX SOCK_DGRAM) printing each message as JSON.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** One sd_notify datagram, e.g. "RELOADING=1\nMONOTONIC_USEC=123", split into its assignments. */
export interface NotifyMessage {
  /** Position in arrival order, from 0. */
  index: number;
  text: string;
  fields: Record<string, string>;
}

export interface NotifyCapture {
  /** The socket path to pass as NOTIFY_SOCKET. */
  readonly path: string;
  /** Every datagram so far, in arrival order. */
  readonly messages: readonly NotifyMessage[];
  /** Resolves with the first message (at or after `fromIndex`) that matches, or rejects at the deadline. */
  waitFor(what: string, match: (m: NotifyMessage) => boolean, opts?: { fromIndex?: number; deadlineMs?: number }): Promise<NotifyMessage>;
  close(): Promise<void>;
}

const SCRIPT = `
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({"bound": sys.argv[1]}), flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps({"text": data.decode("utf-8", "replace")}), flush=True)
`;

function parseFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return fields;
}

/** Binds a datagram socket at `path` (must not exist) and records what arrives until close(). */
export async function startNotifyCapture(path: string): Promise<NotifyCapture> {
  const child: ChildProcess = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'python3', '-u', '-c', SCRIPT, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  const messages: NotifyMessage[] = [];
  const listeners = new Set<() => void>();
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const bound = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    void exited.then(() => reject(new Error(`notify capture exited before binding ${path}: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const record = JSON.parse(line) as { bound?: string; text?: string };
      if (record.bound !== undefined) {
        resolve();
        return;
      }
      const text = record.text ?? '';
      messages.push({ index: messages.length, text, fields: parseFields(text) });
      for (const listener of [...listeners]) listener();
    });
  });
  await bound;

  const waitFor: NotifyCapture['waitFor'] = (what, match, opts = {}) => {
    const fromIndex = opts.fromIndex ?? 0;
    const deadlineMs = opts.deadlineMs ?? 15_000;
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = messages.slice(fromIndex).find(match);
        if (!found) return false;
        finish();
        resolve(found);
        return true;
      };
      const finish = (): void => {
        clearTimeout(timer);
        listeners.delete(listener);
      };
      const listener = (): void => { check(); };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no sd_notify message "${what}" within ${deadlineMs} ms; got: ${JSON.stringify(messages.map((m) => m.text))}`));
      }, deadlineMs);
      listeners.add(listener);
      check();
    });
  };

  return {
    path,
    messages,
    waitFor,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
