// Property-based fuzzing of the last-good merge and the Beyla config render: random file histories (and real drop-in bytes) -> snapshot -> desired state -> YAML.
// FUZZ_SEED=<int> changes the seed (printed with every property); FUZZ_RUNS=<factor> scales the number of cases (e.g. 20 locally).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IncrementalMerge } from '../src/config/merge-incremental.js';
import { mergeSnapshot } from '../src/config/merge-snapshot.js';
import { describeChange } from '../src/plan/describe-change.js';
import { parseDropIn } from '../src/config/parse-drop-in.js';
import type { BeylaSettings, FileResult, Service, Snapshot } from '../src/config/types.js';
import { desiredState } from '../src/plan/desired-state.js';
import { renderBeylaConfig, type InstancePorts } from '../src/plan/render-beyla-config.js';
import { dropInSpec, writeDropIn } from './support/fuzz-drop-in-model.js';
import { assertMergeContract, resultRounds } from './support/fuzz-merge-model.js';
import { DROP_IN_DIR, loadPipeline } from './support/fuzz-pipeline.js';
import { readOpenPorts, type Span } from './support/fuzz-ranges.js';
import { assertRenderContract, type RenderOutcome } from './support/fuzz-render-model.js';
import { checksCoverage, fuzzConfig, runProperty } from './support/fuzz-run.js';
import { utf8 } from './support/fuzz-text-arbitraries.js';

const config = fuzzConfig();
const pipeline = loadPipeline();
const INSTANCE_PORTS: InstancePorts = { metrics: 40001, health: 40002, internal: 40003 };

/**
 * Three instance ports as the supervisor picks them: never a configured or excluded port (the
 * invariant renderBeylaConfig checks), here the first free ones from 40001 up (then from 1), next
 * to the ranges the generators favour; null when the services leave fewer than three ports.
 */
function instancePortsFor(services: readonly Service[], excludePorts: readonly number[]): InstancePorts | null {
  const taken = desiredState(services).ports;
  const free: number[] = [];
  for (let i = 0; i < 65_535 && free.length < 3; i += 1) {
    const port = ((40_000 + i) % 65_535) + 1;
    if (!excludePorts.includes(port) && !taken.some((r) => port >= r.from && port <= r.to)) free.push(port);
  }
  const [metrics, health, internal] = free;
  return metrics && health && internal ? { metrics, health, internal } : null;
}

/** Rendering with an instance port inside the services' ports breaks the invariant: it must throw, never render. */
function assertClashRefused(services: readonly Service[], settings: BeylaSettings, excludePorts: number[]): void {
  const clashing = desiredState(services).ports[0]?.from ?? 1;
  const instancePorts = { metrics: clashing, health: clashing === 65_535 ? 65_534 : clashing + 1, internal: clashing === 1 ? 3 : clashing - 1 };
  assert.throws(() => renderBeylaConfig({ desired: desiredState(services), settings, instancePorts, excludePorts }), { code: 'INTERNAL' });
}

/** Apply each round's results in turn, each merge seeing the one before as `previous`. */
function mergeRounds(rounds: readonly FileResult[][], check?: (previous: Snapshot | undefined, results: readonly FileResult[], snapshot: Snapshot) => void): Snapshot | undefined {
  let previous: Snapshot | undefined;
  for (const results of rounds) {
    const snapshot = mergeSnapshot({ previous, settings: pipeline.settings, origins: pipeline.origins, results });
    check?.(previous, results, snapshot);
    previous = snapshot;
  }
  return previous;
}

/** Beyla tuning passed through agent.beyla.config: nothing the agent owns. */
const PASSTHROUGH: ReadonlyArray<[string, unknown]> = [
  ['otel_metrics_export', { endpoint: 'http://127.0.0.1:4318', interval: '10s', features: ['application', 'network'] }],
  ['attributes', { kubernetes: { enable: false }, select: { http_server_request_duration: { include: ['*'], exclude: ['url.path'] } } }],
  ['log_level', 'DEBUG'],
  ['routes', { unmatched: 'heuristic', patterns: ['/users/:id'] }],
  ['discovery', { poll_interval: '5s', min_process_age: '1s' }],
  ['prometheus_export', { features: ['application'], ttl: '5m' }],
];

/** The same mapping with its keys inserted in reverse order at every depth. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverseKeys(v)]));
}

const renderInput = fc.record({
  rounds: resultRounds('wide', 3),
  excludePorts: fc.array(fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 8000, max: 8027 }), fc.integer({ min: 39_996, max: 40_010 })), { maxLength: 8 }),
  whenEmpty: fc.constantFrom('stop', 'all'),
  passthrough: fc.subarray([...PASSTHROUGH]),
  shutdownTimeoutMs: fc.constantFrom(10_000, 1500, 30_000),
  rotate: fc.nat(),
});

function beylaSettings(input: { whenEmpty: BeylaSettings['whenEmpty']; passthrough: [string, unknown][]; shutdownTimeoutMs: number }): BeylaSettings {
  return { ...pipeline.settings.beyla, whenEmpty: input.whenEmpty, config: Object.fromEntries(input.passthrough), shutdownTimeoutMs: input.shutdownTimeoutMs };
}

describe('mergeSnapshot and renderBeylaConfig under fuzzing', () => {
  test('merge: last good content per file, deleted files gone, unique names, disjoint ports, clashes reported on the later file', (t) => {
    t.diagnostic(`seed ${config.seed}, scale ${config.scale} (override with FUZZ_SEED, FUZZ_RUNS)`);
    const seen = { merges: 0, stale: 0, rejectedForClash: 0, replaced: 0 };
    runProperty({
      name: 'file histories', runs: 1500, config, log: t,
      property: fc.property(resultRounds('crowded'), (rounds) => {
        mergeRounds(rounds, (previous, results, snapshot) => {
          assertMergeContract(previous, results, snapshot);
          seen.merges++;
          seen.stale += snapshot.files.filter((f) => f.status === 'stale').length;
          seen.rejectedForClash += snapshot.files.filter((f) => f.status === 'rejected' && f.errors.some((e) => /already used by/.test(e.message))).length;
          seen.replaced += snapshot.diagnostics.filter((d) => /replaces the one defined/.test(d.message)).length;
        });
      }),
    });
    t.diagnostic(`merges: ${seen.merges}, stale files: ${seen.stale}, files rejected for a clash: ${seen.rejectedForClash}, services replaced by a later file: ${seen.replaced}`);
    if (checksCoverage(config)) assert.ok(seen.stale > 0 && seen.rejectedForClash > 0 && seen.replaced > 0, 'the generator must reach last-good, clash and replacement cases');
  });

  test('incremental merge: the same snapshot as the full merge after every round, and the same change description', (t) => {
    const seen = { merges: 0, incremental: 0, full: 0 };
    // Each file of a round keeps the previous round's result object or gets a new one (as the loader's cache does).
    const histories = fc.tuple(fc.oneof(resultRounds('wide', 8), resultRounds('crowded', 8)), fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }));
    runProperty({
      name: 'incremental merge histories', runs: 1500, config, log: t,
      property: fc.property(histories, ([rounds, keep]) => {
        const merge = new IncrementalMerge();
        let previous: Snapshot | undefined;
        let last: FileResult[] = [];
        rounds.forEach((fresh, r) => {
          const results = fresh.map((result, i) => (keep[(r * 4 + i) % keep.length] ? last.find((o) => o.file === result.file) ?? result : result));
          const full = mergeSnapshot({ previous, settings: pipeline.settings, origins: pipeline.origins, results });
          const got = merge.merge({ previous, settings: pipeline.settings, origins: pipeline.origins, results });
          assert.deepEqual(got.snapshot, full, `round ${r}: ${merge.last.incremental ? 'incremental' : 'full'} merge differs from mergeSnapshot`);
          assert.deepEqual(describeChange(previous, got.snapshot, got.delta), describeChange(previous, full), `round ${r}: change description`);
          seen.merges++;
          if (merge.last.incremental) seen.incremental++;
          else seen.full++;
          previous = got.snapshot;
          last = results;
        });
      }),
    });
    t.diagnostic(`merges: ${seen.merges}, incremental: ${seen.incremental}, full: ${seen.full}`);
    if (checksCoverage(config)) assert.ok(seen.incremental > 100 && seen.full > 100, 'both paths must be reached');
  });

  test('render: null only with nothing to run under when_empty stop; open_ports in Beyla\'s pattern and exactly the services\' ports; deterministic', (t) => {
    const outcomes = new Map<RenderOutcome, number>();
    runProperty({
      name: 'rendered snapshots', runs: 1500, config, log: t,
      property: fc.property(renderInput, (input) => {
        const snapshot = mergeRounds(input.rounds);
        const services = snapshot?.services ?? [];
        const settings = beylaSettings(input);
        const instancePorts = instancePortsFor(services, input.excludePorts);
        if (!instancePorts) {
          assertClashRefused(services, settings, input.excludePorts);
          return;
        }
        const render = (list: readonly Service[], s: BeylaSettings, excludePorts: number[]) => renderBeylaConfig({ desired: desiredState(list), settings: s, instancePorts, excludePorts });
        const rendered = render(services, settings, input.excludePorts);
        const outcome = assertRenderContract({ services, settings, instancePorts, excludePorts: input.excludePorts }, rendered);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);

        assert.deepEqual(render(services, settings, input.excludePorts), rendered, 'the same input renders the same bytes');
        const k = services.length === 0 ? 0 : input.rotate % services.length;
        const shuffled = [...services.slice(k), ...services.slice(0, k)].reverse();
        const reordered = { ...settings, config: reverseKeys(settings.config) as Record<string, unknown> };
        assert.deepEqual(render(shuffled, reordered, [...input.excludePorts].reverse()), rendered, 'service order, passthrough key order and exclusion order must not change the output');
      }),
    });
    t.diagnostic(`render outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    if (checksCoverage(config)) {
      for (const outcome of ['nothing-to-run', 'selectors', 'catch-all'] as const) assert.ok((outcomes.get(outcome) ?? 0) > 0, `the generator never reached "${outcome}"`);
    }
  });

  test('whole pipeline: drop-in bytes -> parse -> merge -> desired state -> Beyla YAML that says what the files say', (t) => {
    const FILES = ['10-a.yaml', '20-b.yaml', '30-c.yaml', '40-d.yaml'].map((name) => `${DROP_IN_DIR}/${name}`);
    const input = fc.record({
      specs: fc.array(dropInSpec(pipeline.healthDefaults), { minLength: 1, maxLength: FILES.length }),
      excludePorts: fc.array(fc.integer({ min: 7990, max: 8020 }), { maxLength: 4 }),
      whenEmpty: fc.constantFrom('stop', 'all'),
    });
    let withServices = 0;
    runProperty({
      name: 'drop-ins to Beyla YAML', runs: 600, config, log: t,
      property: fc.property(input, ({ specs, excludePorts, whenEmpty }) => {
        const results = specs.map((spec, i) => parseDropIn({ file: FILES[i] ?? FILES[0] ?? '', bytes: utf8(writeDropIn(spec)), validators: pipeline.validators, healthDefaults: pipeline.healthDefaults }));
        const snapshot = mergeSnapshot({ settings: pipeline.settings, origins: pipeline.origins, results });
        assertMergeContract(undefined, results, snapshot);
        const settings = beylaSettings({ whenEmpty, passthrough: [], shutdownTimeoutMs: 10_000 });
        const instancePorts = instancePortsFor(snapshot.services, excludePorts);
        if (!instancePorts) {
          assertClashRefused(snapshot.services, settings, excludePorts);
          return;
        }
        const rendered = renderBeylaConfig({ desired: desiredState(snapshot.services), settings, instancePorts, excludePorts });
        assertRenderContract({ services: snapshot.services, settings, instancePorts, excludePorts }, rendered);
        if (snapshot.services.length > 0) withServices++;
      }),
    });
    t.diagnostic(`drop-ins to Beyla YAML: ${withServices} cases with services in effect`);
    if (checksCoverage(config)) assert.ok(withServices > 0, 'the generator must produce accepted drop-ins');
  });

  describe('regression cases', () => {
    const settings = (whenEmpty: BeylaSettings['whenEmpty']): BeylaSettings => ({ ...pipeline.settings.beyla, whenEmpty });
    const service = (name: string, ports: Span[], exe?: string): Service => ({
      name, ports, ...(exe === undefined ? {} : { exe }), health: { kind: 'tcp', intervalMs: 10_000, timeoutMs: 2000 }, source: { file: `${DROP_IN_DIR}/${name}.yaml`, line: 1, col: 1 },
    });

    test('declared services whose every port is excluded do not widen Beyla to every port under when_empty all', () => {
      // A service declared on the agent's own scrape port (excluded) and nothing else.
      const rendered = renderBeylaConfig({ desired: desiredState([service('scraper', [{ from: 9464, to: 9464 }])]), settings: settings('all'), instancePorts: INSTANCE_PORTS, excludePorts: [9464] });
      const instrumented = rendered === null || rendered.portsString === '' ? [] : readOpenPorts(rendered.portsString);
      assert.deepEqual(instrumented, [], `a config for one excluded service instruments ports ${rendered?.portsString}`);
    });

    test('an exe glob is never rewritten by Beyla\'s ${VAR} expansion: refused, or rendered without "${"', () => {
      const file = `${DROP_IN_DIR}/app.yaml`;
      const result = parseDropIn({ file, bytes: utf8('name: app\nport: 8080\nexe: "/opt/${APP}/bin/*"\n'), validators: pipeline.validators, healthDefaults: pipeline.healthDefaults });
      if (!result.ok) {
        assert.ok(result.errors.some((e) => e.line === 3), 'the refusal points at the exe line');
        return;
      }
      const snapshot = mergeSnapshot({ settings: pipeline.settings, origins: pipeline.origins, results: [result] });
      const rendered = renderBeylaConfig({ desired: desiredState(snapshot.services), settings: settings('stop'), instancePorts: INSTANCE_PORTS, excludePorts: [] });
      assert.ok(rendered);
      assert.ok(!rendered.yaml.includes('${'), `Beyla would expand the glob in:\n${rendered.yaml}`);
    });
  });
});
