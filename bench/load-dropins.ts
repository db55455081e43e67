// Benchmark: load and validate 10,000 drop-ins with loadSnapshot, against a bare read + yaml.parse of the same files.
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parse } from 'yaml';
import { compileValidators } from '../src/config/schema-validate.js';
import { loadSnapshot } from '../src/store/load-snapshot.js';

export interface LoadDropInsOptions {
  fileCount?: number;
  rounds?: number;
}

/** Drop-in number i: alternating styles (one service at the top level, a `services:` list, port ranges, health objects). */
function dropInText(i: number): string {
  const port = 10_000 + i * 4;
  const name = `svc-${String(i).padStart(5, '0')}`;
  switch (i % 4) {
    case 0:
      return `name: ${name}\nport: ${port}\n`;
    case 1:
      return `# generated\nname: ${name}\nports: [${port}, "${port + 1}-${port + 2}"]\nexe: "*${name}*"\nhealth: http:/healthz\ntype: http\n`;
    case 2:
      return `name: ${name}\nport: ${port}\nhealth:\n  check: http\n  path: /ready\n  interval: 15s\n  timeout: 1s\n`;
    default:
      return `services:\n  - name: ${name}\n    port: ${port}\n    health: none\n  - name: ${name}-admin\n    port: ${port + 1}\n`;
  }
}

/** The baseline: list, read (32 at a time, as the loader does) and yaml.parse each file; nothing else. */
async function bareParse(dir: string): Promise<number> {
  const names = (await readdir(dir)).sort();
  let next = 0;
  let count = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const name = names[next++] as string;
      const value: unknown = parse(await readFile(join(dir, name), 'utf8'));
      if (value !== null) count++;
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return count;
}

/** Wall time, and CPU time of the whole process (main thread and libuv's pool): on a shared machine the CPU figure is the steadier one. */
async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; cpuMs: number; value: T }> {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const value = await fn();
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - start, cpuMs: (used.user + used.system) / 1000, value };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Figures for a bench runner: medians over the rounds, in ms and µs per file. */
export async function run(options: LoadDropInsOptions = {}): Promise<Record<string, number>> {
  const fileCount = options.fileCount ?? 10_000;
  const rounds = options.rounds ?? 5;
  const root = await mkdtemp(join(tmpdir(), 'coral-bench-'));
  try {
    const dir = join(root, 'services.d');
    await mkdir(dir);
    const configPath = join(root, 'coral.yaml');
    await writeFile(configPath, 'agent:\n  services_dir: services.d\n');
    for (let i = 0; i < fileCount; i++) {
      await writeFile(join(dir, `${String(i).padStart(5, '0')}-svc.yaml`), dropInText(i));
    }
    const validators = compileValidators();
    const bare: number[] = [];
    const load: number[] = [];
    const bareCpu: number[] = [];
    const loadCpu: number[] = [];
    // One warm-up of each, then alternate so neither side always runs on a warmer cache.
    await bareParse(dir);
    await loadSnapshot({ configPath, env: {}, validators });
    for (let round = 0; round < rounds; round++) {
      const a = await timed(() => bareParse(dir));
      const b = await timed(() => loadSnapshot({ configPath, env: {}, validators }));
      if (a.value !== fileCount) throw new Error(`bare parse read ${a.value} of ${fileCount} files`);
      const rejected = b.value.snapshot.files.filter((f) => f.status !== 'valid');
      if (rejected.length > 0) throw new Error(`loadSnapshot rejected ${rejected.length} files, first: ${JSON.stringify(rejected[0]?.errors[0])}`);
      bare.push(a.ms);
      load.push(b.ms);
      bareCpu.push(a.cpuMs);
      loadCpu.push(b.cpuMs);
    }
    const bareMs = median(bare);
    const loadMs = median(load);
    return {
      files: fileCount,
      rounds,
      bare_parse_ms: round1(bareMs),
      bare_parse_us_per_file: round1((bareMs * 1000) / fileCount),
      load_snapshot_ms: round1(loadMs),
      load_snapshot_us_per_file: round1((loadMs * 1000) / fileCount),
      ratio: Math.round((loadMs / bareMs) * 100) / 100,
      bare_parse_cpu_ms: round1(median(bareCpu)),
      load_snapshot_cpu_ms: round1(median(loadCpu)),
      cpu_ratio: Math.round((median(loadCpu) / median(bareCpu)) * 100) / 100,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function printTable(figures: Record<string, number>): void {
  const rows: string[][] = [
    ['step', 'total ms', 'per file µs', 'ratio', 'cpu ms', 'cpu ratio'],
    ['read + yaml.parse (bare)', String(figures.bare_parse_ms), String(figures.bare_parse_us_per_file), '1.00', String(figures.bare_parse_cpu_ms), '1.00'],
    ['loadSnapshot (read, validate, merge)', String(figures.load_snapshot_ms), String(figures.load_snapshot_us_per_file), (figures.ratio ?? 0).toFixed(2), String(figures.load_snapshot_cpu_ms), (figures.cpu_ratio ?? 0).toFixed(2)],
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const row of rows) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  console.log(`${figures.files} drop-ins, median of ${figures.rounds} rounds; goals: loadSnapshot < 1000 ms, ratio <= 2`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const count = process.argv[2] ? Number(process.argv[2]) : undefined;
  printTable(await run(count ? { fileCount: count } : {}));
}
