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

async function bareParse(dir: string): Promise<number> {
  const names = (await readdir(dir)).sort();
  let count = 0;
  for (const name of names) {
    const value: unknown = parse(await readFile(join(dir, name), 'utf8'));
    if (value !== null) count++;
  }
  return count;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
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
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function printTable(figures: Record<string, number>): void {
  const rows: [string, string, string, string][] = [
    ['step', 'total ms', 'per file µs', 'ratio'],
    ['read + yaml.parse (bare)', String(figures.bare_parse_ms), String(figures.bare_parse_us_per_file), '1.00'],
    ['loadSnapshot (read, validate, merge)', String(figures.load_snapshot_ms), String(figures.load_snapshot_us_per_file), (figures.ratio ?? 0).toFixed(2)],
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const row of rows) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  console.log(`${figures.files} drop-ins, median of ${figures.rounds} rounds; goals: loadSnapshot < 1000 ms, ratio <= 2`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const count = process.argv[2] ? Number(process.argv[2]) : undefined;
  printTable(await run(count ? { fileCount: count } : {}));
}
