// Runs a compiled Node test script in a fresh network namespace (loopback up, sysctls set): faults that need a host-wide setting, kept private.
import { spawn, spawnSync } from 'node:child_process';

/** Why a network namespace cannot be made here, or undefined when it can. */
export function netnsUnavailable(): string | undefined {
  const probe = spawnSync('unshare', ['--net', '--', 'ip', 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
  if (probe.error) return `unshare could not run: ${probe.error.message}`;
  if (probe.status !== 0) return `cannot create a network namespace (needs CAP_SYS_ADMIN): ${probe.stderr.trim()}`;
  return undefined;
}

export interface NetnsRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `node script ...args` inside `unshare --net` after `ip link set lo up` and each `sysctl -w
 * key=value`; nothing outside the namespace sees the settings. Resolves when the script exits.
 */
export function runInNetns(opts: { script: string; args?: string[]; sysctls?: Record<string, string>; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<NetnsRun> {
  const setup = ['ip link set lo up', ...Object.entries(opts.sysctls ?? {}).map(([key, value]) => `sysctl -q -w ${key}='${value}'`)].join(' && ');
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--net', '--', 'sh', '-c', `${setup} && exec "$0" "$@"`, process.execPath, opts.script, ...(opts.args ?? [])], {
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  return new Promise((resolvePromise, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}
