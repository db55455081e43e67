// One agent per runtime directory: an abstract unix socket named after the directory, bound before anything else starts; the kernel frees it when the agent dies.
import { createHash } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { CoralError } from '../errors.js';

export interface RuntimeDirLock {
  /** The abstract socket name (without its leading NUL), for logs. */
  name: string;
  release(): Promise<void>;
}

const ANSWER_TIMEOUT_MS = 2000;

/** `coral-agent-<sha256 of the directory's real path>`: the same directory gives the same name, however it is spelled. */
async function lockName(runtimeDir: string): Promise<string> {
  const real = await realpath(runtimeDir);
  return `coral-agent-${createHash('sha256').update(real).digest('hex').slice(0, 40)}`;
}

function listen(name: string): Promise<Server | null> {
  return new Promise((resolveListen, reject) => {
    const server = createServer((socket) => {
      socket.end(`${JSON.stringify({ pid: process.pid })}\n`);
      socket.on('error', () => socket.destroy());
    });
    server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolveListen(null) : reject(error)));
    server.listen(`\0${name}`, () => {
      server.unref(); // a lock, not work: it must not keep the process alive
      resolveListen(server);
    });
  });
}

/** The pid the holder of the lock answers with (undefined if it does not answer). */
function askHolder(name: string): Promise<number | undefined> {
  return new Promise((resolveAsk) => {
    let text = '';
    const socket = connect(`\0${name}`);
    const done = (pid: number | undefined): void => {
      socket.destroy();
      resolveAsk(pid);
    };
    socket.setTimeout(ANSWER_TIMEOUT_MS, () => done(undefined));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { text += chunk; });
    socket.on('end', () => {
      try {
        const pid = (JSON.parse(text) as { pid?: unknown }).pid;
        done(typeof pid === 'number' ? pid : undefined);
      } catch {
        done(undefined);
      }
    });
    socket.on('error', () => done(undefined));
  });
}

/**
 * Takes the runtime directory for this agent, or throws CoralError('TEMPORARY') naming the pid of
 * the agent that has it. Two agents started at the same moment cannot both win: bind is atomic.
 */
export async function lockRuntimeDir(runtimeDir: string): Promise<RuntimeDirLock> {
  const name = await lockName(runtimeDir);
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const server = await listen(name);
    if (server) {
      return { name, release: () => new Promise((resolveClose) => server.close(() => resolveClose())) };
    }
    const holder = await askHolder(name);
    if (holder !== undefined) {
      throw new CoralError('TEMPORARY', `another coral-agent (pid ${holder}) is running on ${runtimeDir}`, {
        hint: `stop it first (kill ${holder}, or systemctl stop coral-agent), or give this one its own agent.runtime_dir`,
        details: { pid: holder, runtime_dir: runtimeDir },
      });
    }
    // The holder went away between our bind and our question: try again.
  }
  throw new CoralError('TEMPORARY', `could not take the lock on ${runtimeDir}: another agent keeps taking and releasing it`, { details: { runtime_dir: runtimeDir } });
}
