// Benchmark: CPU of one reconcile's pure work (load, diff, desired state, Beyla config) when one drop-in among 10,000 changed, incremental vs full re-read.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { IncrementalMerge } from '../src/config/merge-incremental.js';
import { compileValidators } from '../src/config/schema-validate.js';
import type { Snapshot } from '../src/config/types.js';
import { describeChange } from '../src/plan/describe-change.js';
import { desiredState } from '../src/plan/desired-state.js';
import { renderBeylaConfig } from '../src/plan/render-beyla-config.js';
import { DropInCache } from '../src/store/drop-in-cache.js';
import { loadSnapshot } from '../src/store/load-snapshot.js';

export interface IncrementalBenchOptions {
  fileCount?: number;
  rounds?: number;
}

const PORTS = { metrics: 1, health: 2, internal: 3 };

function cpuMs(fn: () => Promise<void>): Promise<number> {
  const start = process.cpuUsage();
  return fn().then(() => {
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000;
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/**
 * What the daemon does between the event and the Beyla spawn, minus the spawn: load (with or
 * without the cache), describe the change, the desired state, and the config rendered twice (the
 * supervisor's comparison key and the instance's file).
 */
async function reconcileWork(opts: { configPath: string; previous: Snapshot; cache?: DropInCache; merge?: IncrementalMerge; validators: ReturnType<typeof compileValidators> }): Promise<Snapshot> {
  const { snapshot, delta } = await loadSnapshot({ configPath: opts.configPath, env: {}, previous: opts.previous, validators: opts.validators, cache: opts.cache, merge: opts.merge });
  describeChange(opts.previous, snapshot, delta);
  const desired = desiredState(snapshot.services);
  for (let i = 0; i < 2; i++) renderBeylaConfig({ desired, settings: snapshot.settings.beyla, instancePorts: PORTS, excludePorts: [9464] });
  return snapshot;
}

export async function run(options: IncrementalBenchOptions = {}): Promise<Record<string, number>> {
  const fileCount = options.fileCount ?? 10_000;
  const rounds = options.rounds ?? 5;
  const root = await mkdtemp(join(tmpdir(), 'coral-bench-incremental-'));
  try {
    const dir = join(root, 'services.d');
    await mkdir(dir);
    const configPath = join(root, 'coral.yaml');
    await writeFile(configPath, 'agent:\n  services_dir: services.d\n');
    for (let i = 0; i < fileCount; i++) await writeFile(join(dir, `svc-${String(i).padStart(5, '0')}.yaml`), `name: svc-${i}\nport: ${10_000 + i}\n`);
    const validators = compileValidators();
    // As the daemon runs it: the cache trusts the directory watch's hints, the merge is incremental.
    const cache = new DropInCache({ hinted: true });
    const merge = new IncrementalMerge();
    let previous = (await loadSnapshot({ configPath, env: {}, validators, cache, merge })).snapshot;
    const incremental: number[] = [];
    const full: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // One file changes its port; the other 9,999 stay as they are.
      await writeFile(join(dir, 'svc-00007.yaml'), `name: svc-7\nport: ${40_000 + round}\n`);
      cache.hint(join(dir, 'svc-00007.yaml')); // what the watcher's event does in the agent
      let next: Snapshot | undefined;
      incremental.push(await cpuMs(async () => {
        next = await reconcileWork({ configPath, previous, cache, merge, validators });
      }));
      if (cache.last.read !== 1 || cache.lastMode !== 'hinted') throw new Error(`incremental load read ${cache.last.read} files (mode: ${cache.lastMode})`);
      // The changed drop-in and coral.yaml (parsed on every load).
      if (!merge.last.incremental || merge.last.remerged > 2) throw new Error(`the merge re-merged ${merge.last.remerged} files (incremental: ${merge.last.incremental})`);
      if (!next!.services.some((s) => s.ports[0]!.from === 40_000 + round)) throw new Error('the changed port is not in the snapshot');
      previous = next!;
      full.push(await cpuMs(async () => {
        await reconcileWork({ configPath, previous, validators });
      }));
    }
    const incrementalMs = median(incremental);
    const fullMs = median(full);
    return {
      files: fileCount,
      rounds,
      incremental_cpu_ms: Math.round(incrementalMs * 10) / 10,
      full_cpu_ms: Math.round(fullMs * 10) / 10,
      incremental_over_full: Math.round((incrementalMs / fullMs) * 1000) / 1000,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const count = process.argv[2] ? Number(process.argv[2]) : undefined;
  const f = await run(count ? { fileCount: count } : {});
  console.log(`one drop-in changed among ${f.files}: reconcile work ${f.incremental_cpu_ms} ms CPU incremental, ${f.full_cpu_ms} ms full re-read (${f.incremental_over_full}x); goal <= 50 ms`);
}
