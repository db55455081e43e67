// `npm run bench`: every benchmark in one run, one table, a JSON file, and (with --gate) quality gates on ratios.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';

type Figures = Record<string, number>;

interface Gate {
  /** Figure name inside the bench's result. */
  figure: string;
  /** What the figure is a ratio of (both measured in the same run). */
  meaning: string;
  /** CI fails above this. */
  max: number;
  /** The goal the project aims at (reported, not enforced, where it differs from max). */
  aim?: number;
}

interface Bench {
  name: string;
  load: () => Promise<{ run: (options?: never) => Promise<Figures> }>;
  /** Options sized so the whole run fits CI's budget. */
  options: Record<string, number | number[]>;
  gates: Gate[];
}

const BENCHES: Bench[] = [
  {
    name: 'load-dropins',
    load: () => import('./load-dropins.js') as never,
    options: { fileCount: 10_000, rounds: 3 },
    gates: [{ figure: 'ratio', meaning: 'load+validate+merge of 10,000 drop-ins / bare read+yaml.parse', max: 2.5, aim: 2 }],
  },
  {
    name: 'incremental',
    load: () => import('./incremental.js') as never,
    options: { fileCount: 10_000, rounds: 3 },
    // Goal: <= 50 ms of CPU, ~0.04 of a full re-read (0.9-1.6 s); measured 0.025 (24-26 ms), then 0.031-0.043 (32-68 ms) in three runs at load 10-12,
    // so the gate has room above the aim: a bound at the aim itself failed one run in three.
    gates: [{ figure: 'incremental_over_full', meaning: 'reconcile work CPU, one drop-in changed among 10,000: incremental / full re-read', max: 0.08, aim: 0.04 }],
  },
  {
    name: 'health-checks',
    load: () => import('./health-checks.js') as never,
    options: { services: 20_000 }, // the window is one interval: uncapped, it must hold one whole round (health-checks.ts)
    // 20,000 TCP checks every 10 s: 2,000 a second uncapped (11-12% of a core here with refused connects), 250 a second capped (2.8%).
    gates: [{ figure: 'capped_over_uncapped_cpu', meaning: 'agent CPU of 20,000 TCP health checks every 10 s: capped / uncapped', max: 0.5, aim: 0.5 }],
  },
  {
    name: 'connect',
    load: () => import('./connect.js') as never,
    options: { rounds: 7 },
    gates: [{ figure: 'ratio', meaning: 'coral connect wall time, no agent running (the CLI reads services.d) / node -e 0', max: 10, aim: 2 }],
  },
  {
    name: 'connect-agent',
    load: () => import('./connect-agent.js') as never,
    options: { rounds: 9 },
    gates: [
      // Goals: <= 2x node -e 0, and the N=10,000 time <= 1.2x the N=10 time. Both met in some runs and not in others
      // on the shared machine (1.76-2.14x and 0.87-1.40 at load average 17-29), so the bounds sit above that spread
      // and the aims are the goals (docs/reliability.md). Was 4.2-4.7x and 2.95.
      { figure: 'connect_over_node_n10', meaning: 'coral connect wall time with the agent running (10 drop-ins) / node -e 0', max: 3, aim: 2 },
      { figure: 'connect_over_node_n1000', meaning: 'the same with 1,000 drop-ins / node -e 0', max: 3, aim: 2 },
      { figure: 'connect_over_node_n10000', meaning: 'the same with 10,000 drop-ins / node -e 0', max: 3.5, aim: 2 },
      { figure: 'n10000_over_n10', meaning: 'coral connect with 10,000 drop-ins / with 10 (each over node -e 0 beside it)', max: 2, aim: 1.2 },
    ],
  },
  {
    name: 'daemon',
    load: () => import('./daemon.js') as never,
    options: {},
    gates: [
      { figure: 'rss_ratio', meaning: 'idle agent RSS (the bundle the package runs) / bare node RSS', max: 1.5, aim: 1.5 },
      { figure: 'agent_idle_cpu_pct', meaning: 'idle agent CPU (health checks every 1 s), % of one core', max: 2, aim: 0.5 },
    ],
  },
  {
    name: 'otlp-relay',
    load: () => import('./otlp-relay.js') as never,
    options: { rate: 1000, burstMs: 3000 },
    gates: [],
  },
  {
    name: 'stop',
    load: () => import('./stop.js') as never,
    options: { sizes: [10, 10_000], rounds: 1 }, // the 10-drop-in denominator still gets three (stop.ts)
    // SIGTERM to exit, 4 services really listening: with 10,000 drop-ins a coverage search of every service per name and
    // listener blocked the event loop (5.9 s idle, 7.5 s with a coral status in flight: 103x and 144x the 10-drop-in stop;
    // 26 s and 111 s at 20,000). Now 2.7x and 5.4x (125 and 248 ms against 47 and 46 ms): what is left grows with the status
    // document, built and sent in one turn of the event loop, and the heap the process frees at exit (docs/reliability.md).
    gates: [
      { figure: 'status_stop_ratio', meaning: 'SIGTERM-to-exit with a coral status in flight: 10,000 drop-ins / 10', max: 10, aim: 2 },
      { figure: 'idle_stop_ratio', meaning: 'SIGTERM-to-exit of an idle agent: 10,000 drop-ins / 10', max: 6, aim: 2 },
    ],
  },
  {
    name: 'swap',
    load: () => import('./swap.js') as never,
    options: { swaps: 4, ebpfLoadMs: 1000 },
    // The swap waits out the double's eBPF load (handover); what the agent adds on top (spawn, the 250 ms handover poll, promotion) is bounded against it.
    gates: [{ figure: 'overhead_over_ebpf_load', meaning: 'swap time minus the wait for handover (median) / the double\'s eBPF load delay', max: 0.6, aim: 0.2 }],
  },
];

export interface GateResult extends Gate {
  bench: string;
  value: number | undefined;
  ok: boolean;
}

export function checkGates(results: Record<string, Figures>): GateResult[] {
  return BENCHES.flatMap((bench) => bench.gates.map((gate) => {
    const value = results[bench.name]?.[gate.figure];
    return { ...gate, bench: bench.name, value, ok: value !== undefined && Number.isFinite(value) && value <= gate.max };
  }));
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      gate: { type: 'boolean' },
      only: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(`Usage: npm run bench -- [--only NAME[,NAME]] [--gate] [--out FILE]

Runs the benchmarks (${BENCHES.map((b) => b.name).join(', ')}), prints one table and writes the
figures as JSON (default bench/results/latest.json). With --gate, exits 1 when a figure is past
its bound; every bound is on a ratio to a baseline measured in the same run.`);
    return 0;
  }
  const only = values.only ? new Set(values.only.split(',')) : undefined;
  const results: Record<string, Figures> = {};
  for (const bench of BENCHES) {
    if (only && !only.has(bench.name)) continue;
    process.stderr.write(`bench ${bench.name} ...\n`);
    const started = Date.now();
    const mod = await bench.load();
    results[bench.name] = await mod.run(bench.options as never);
    process.stderr.write(`bench ${bench.name} done in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  }
  const rows: string[][] = [['bench', 'figure', 'value']];
  for (const [name, figures] of Object.entries(results)) {
    for (const [key, value] of Object.entries(figures)) rows.push([name, key, String(Math.round(value * 1000) / 1000)]);
  }
  const gates = checkGates(results).filter((g) => !only || only.has(g.bench));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n'));
  console.log('\nquality gates (ratios measured in this run):');
  for (const g of gates) {
    const aim = g.aim !== undefined ? `, aim <= ${g.aim}${g.value !== undefined && g.value <= g.aim ? ' met' : ' not met'}` : '';
    console.log(`  ${g.ok ? 'PASS' : 'FAIL'}  ${g.bench}.${g.figure} = ${g.value ?? 'missing'} (bound <= ${g.max}${aim}): ${g.meaning}`);
  }
  const out = resolve(values.out ?? 'bench/results/latest.json');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify({ at: new Date().toISOString(), node: process.version, results, gates }, null, 2)}\n`);
  console.log(`\nfigures written to ${out}`);
  const failed = gates.filter((g) => !g.ok);
  return values.gate && failed.length > 0 ? 1 : 0;
}

process.exitCode = await main();
