// Benchmark: `coral connect` wall time against a running agent holding N = 10, 1,000 and 10,000 drop-ins, each against `node -e 0` in the same run.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { coralYaml, dropIn } from '../test/support/daemon-harness.js';

/** The bundle the package ships when it was built (npm run build with esbuild), else the tsc output. */
function entry(name: string): string {
  const bundled = fileURLToPath(new URL(`../bundle/cli/${name === 'coral' ? 'coral.cjs' : `${name}.js`}`, import.meta.url));
  return existsSync(bundled) ? bundled : fileURLToPath(new URL(`../src/cli/${name}.js`, import.meta.url));
}

export interface ConnectAgentOptions {
  sizes?: number[];
  rounds?: number;
}

function timeMs(args: string[]): number {
  const start = performance.now();
  const result = spawnSync(process.execPath, args, { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'ignore', 'pipe'] });
  const elapsed = performance.now() - start;
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr.toString()}`);
  return elapsed;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function cpuTicks(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Until the agent has used no CPU for 300 ms (its watcher digests the last write), at most 10 s. */
async function settle(pid: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = await cpuTicks(pid);
  while (Date.now() < deadline) {
    await delay(300);
    const now = await cpuTicks(pid);
    if (now === last) return;
    last = now;
  }
}

async function measure(n: number, rounds: number): Promise<{ nodeMs: number; connectMs: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'coral-bench-agent-'));
  const agent = spawn(process.execPath, [entry('coral-agent'), 'run', '--config', join(dir, 'coral.yaml')], {
    env: { PATH: process.env.PATH ?? '', FAKE_BEYLA_STATE_DIR: join(dir, 'beyla-state') }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => agent.once('exit', () => resolve()));
  try {
    await mkdir(join(dir, 'services.d'));
    await mkdir(join(dir, 'beyla-state'));
    // A long debounce: no Beyla swap during the rounds, so they time the connect, not a swap next to it.
    await writeFile(join(dir, 'coral.yaml'), coralYaml({ dir, debounce: '10m', maxWait: '20m' }));
    for (let i = 0; i < n; i++) await writeFile(join(dir, 'services.d', `svc-${i}.yaml`), dropIn(`svc-${i}`, 10_000 + i));
    await new Promise<void>((resolve, reject) => {
      let text = '';
      agent.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('coral-agent ready')) resolve();
        if (text.length > 1_000_000) text = text.slice(-1000);
      });
      agent.once('exit', (code) => reject(new Error(`coral-agent exited ${code} before it was ready`)));
    });
    const config = join(dir, 'coral.yaml');
    const coral = entry('coral');
    timeMs([coral, 'connect', 'warm:2999:none', '--config', config]); // the agent's first view is a full (cached) load
    await settle(agent.pid!);
    const node: number[] = [];
    const connect: number[] = [];
    for (let i = 0; i < rounds; i++) {
      node.push(timeMs(['-e', '0']));
      connect.push(timeMs([coral, 'connect', `new-${i}:${40_000 + i}:none`, '--config', config]));
      await settle(agent.pid!);
    }
    return { nodeMs: median(node), connectMs: median(connect) };
  } finally {
    agent.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
}

const round1 = (n: number): number => Math.round(n * 10) / 10;
const round2 = (n: number): number => Math.round(n * 100) / 100;

export async function run(options: ConnectAgentOptions = {}): Promise<Record<string, number>> {
  const sizes = options.sizes ?? [10, 1000, 10_000];
  const rounds = options.rounds ?? 7;
  const out: Record<string, number> = { rounds };
  for (const n of sizes) {
    const { nodeMs, connectMs } = await measure(n, rounds);
    out[`node_ms_n${n}`] = round1(nodeMs);
    out[`connect_ms_n${n}`] = round1(connectMs);
    out[`connect_over_node_n${n}`] = round2(connectMs / nodeMs);
  }
  const first = sizes[0]!;
  const last = sizes[sizes.length - 1]!;
  // Each size's connect over the node -e 0 measured beside it, so load that differs between sizes cancels.
  out[`n${last}_over_n${first}`] = round2(out[`connect_over_node_n${last}`]! / out[`connect_over_node_n${first}`]!);
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const f = await run(process.argv[2] ? { sizes: process.argv[2].split(',').map(Number) } : {});
  console.log(f);
}
