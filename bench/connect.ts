// Benchmark: wall time of one `coral connect` process (a real write, and an idempotent re-run) against `node -e 0`, interleaved in the same run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The bundle the package ships when it was built (npm run build with esbuild), else the tsc output. */
const BUNDLED = fileURLToPath(new URL('../bundle/cli/coral.cjs', import.meta.url));
const CLI = existsSync(BUNDLED) ? BUNDLED : fileURLToPath(new URL('../src/cli/coral.js', import.meta.url));

export interface ConnectBenchOptions {
  rounds?: number;
}

function timeMs(args: string[], env: NodeJS.ProcessEnv): number {
  const start = performance.now();
  const result = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const elapsed = performance.now() - start;
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr.toString()}`);
  return elapsed;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median wall times in ms; rounds interleave the three commands so machine load hits them alike. */
export async function run(options: ConnectBenchOptions = {}): Promise<Record<string, number>> {
  const rounds = options.rounds ?? 15;
  const dir = await mkdtemp(join(tmpdir(), 'coral-bench-connect-'));
  try {
    const config = join(dir, 'coral.yaml');
    await writeFile(config, `agent:\n  control:\n    socket: ${join(dir, 'ctl.sock')}\n`);
    const env = { PATH: process.env.PATH ?? '', CORAL_CONFIG: config };
    timeMs([CLI, 'connect', 'warm:2999'], env); // the page cache, not the first-run cost, is what users see
    const node: number[] = [];
    const write: number[] = [];
    const again: number[] = [];
    for (let i = 0; i < rounds; i++) {
      node.push(timeMs(['-e', '0'], env));
      write.push(timeMs([CLI, 'connect', `svc-${i}:${3000 + i}`], env));
      again.push(timeMs([CLI, 'connect', `svc-${i}:${3000 + i}`], env));
    }
    const figures = { rounds, nodeMs: median(node), connectMs: median(write), unchangedMs: median(again) };
    return { ...figures, ratio: figures.connectMs / figures.nodeMs, unchangedRatio: figures.unchangedMs / figures.nodeMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rounds = process.argv[2] ? Number(process.argv[2]) : undefined;
  const f = await run(rounds === undefined ? {} : { rounds });
  console.log(`node -e 0                        ${f.nodeMs!.toFixed(0).padStart(5)} ms`);
  console.log(`coral connect (writes the file)  ${f.connectMs!.toFixed(0).padStart(5)} ms  ${f.ratio!.toFixed(2)}x`);
  console.log(`coral connect (already there)    ${f.unchangedMs!.toFixed(0).padStart(5)} ms  ${f.unchangedRatio!.toFixed(2)}x`);
  console.log(`median of ${f.rounds} interleaved rounds, agent not running; goal: coral connect <= 3x node -e 0`);
}
