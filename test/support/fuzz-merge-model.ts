// Sequences of per-file results for the merge fuzz tests, and the last-good merge contract a snapshot must keep.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Diagnostic, FileResult, Service, Snapshot } from '../../src/config/types.js';
import { DROP_IN_DIR, MAIN_FILE } from './fuzz-pipeline.js';
import { normalizeSpans, spansOverlap, type Span } from './fuzz-ranges.js';

export const FILES: readonly string[] = [MAIN_FILE, `${DROP_IN_DIR}/10-api.yaml`, `${DROP_IN_DIR}/20-web.yaml`, `${DROP_IN_DIR}/30-jobs.yaml`];

/** A few names, so files often redefine each other's services. */
const NAMES = ['api', 'auth', 'cache', 'db', 'web', 'worker'] as const;
const EXES = ['*java*', '*node*', '/usr/bin/python3'] as const;

/** Where generated ports come from: a crowded band (conflicts), or also near the instance ports and anywhere. */
export type PortBand = 'crowded' | 'wide';

function portSpan(band: PortBand): fc.Arbitrary<Span> {
  const crowded = fc.tuple(fc.integer({ min: 8000, max: 8024 }), fc.integer({ min: 0, max: 3 })).map(([from, w]) => ({ from, to: from + w }));
  if (band === 'crowded') return crowded;
  return fc.oneof(
    { weight: 8, arbitrary: crowded },
    { weight: 4, arbitrary: fc.tuple(fc.integer({ min: 39_996, max: 40_006 }), fc.integer({ min: 0, max: 4 })).map(([from, w]) => ({ from, to: from + w })) },
    { weight: 4, arbitrary: fc.integer({ min: 1, max: 65535 }).map((p) => ({ from: p, to: p })) },
    { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 500 })).map(([from, w]) => ({ from, to: Math.min(65535, from + w) })) },
    { weight: 2, arbitrary: fc.constantFrom({ from: 1, to: 1 }, { from: 65535, to: 65535 }) },
    // Every port: rare, because mergeSnapshot indexes accepted ports one by one.
    { weight: 1, arbitrary: fc.constant({ from: 1, to: 65535 }) },
  );
}

interface ServiceDraft {
  name: string;
  spans: Span[];
  exe: string | undefined;
}

function serviceDraft(band: PortBand): fc.Arbitrary<ServiceDraft> {
  return fc.record({
    name: fc.constantFrom(...NAMES),
    spans: fc.array(portSpan(band), { minLength: 1, maxLength: 3 }),
    exe: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...EXES) }),
  });
}

/** Services as parseDropIn would accept them in one file: names unique, ports disjoint (later drafts that clash are dropped). */
function fileServices(file: string, drafts: readonly ServiceDraft[]): Service[] {
  const services: Service[] = [];
  for (const draft of drafts) {
    const ports = normalizeSpans(draft.spans);
    if (services.some((s) => s.name === draft.name || spansOverlap(s.ports, ports))) continue;
    services.push({
      name: draft.name,
      ports,
      ...(draft.exe === undefined ? {} : { exe: draft.exe }),
      health: { kind: 'tcp', intervalMs: 10_000, timeoutMs: 2000 },
      source: { file, line: 2 + services.length * 3, col: 3 },
    });
  }
  return services;
}

function invalid(file: string, round: number): FileResult {
  const error: Diagnostic = { file, line: 1, col: 1, severity: 'error', message: `bad content in round ${round}` };
  return { file, ok: false, errors: [error] };
}

type FileDraft = { kind: 'absent' } | { kind: 'invalid' } | { kind: 'ok'; drafts: ServiceDraft[] };

/** One to `maxRounds` rounds; each lists the files that exist then (main first, drop-ins in lexical order), each ok or invalid. */
export function resultRounds(band: PortBand, maxRounds = 6): fc.Arbitrary<FileResult[][]> {
  const fileDraft: fc.Arbitrary<FileDraft> = fc.oneof(
    { weight: 1, arbitrary: fc.constant({ kind: 'absent' as const }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'invalid' as const }) },
    { weight: 5, arbitrary: fc.array(serviceDraft(band), { minLength: 0, maxLength: 3 }).map((drafts) => ({ kind: 'ok' as const, drafts })) },
  );
  const round = fc.array(fileDraft, { minLength: FILES.length, maxLength: FILES.length });
  return fc.array(round, { minLength: 1, maxLength: maxRounds }).map((rounds) => rounds.map((drafts, r) => drafts.flatMap((draft, i): FileResult[] => {
    const file = FILES[i] ?? MAIN_FILE;
    if (draft.kind === 'absent') return [];
    if (draft.kind === 'invalid') return [invalid(file, r)];
    const services = fileServices(file, draft.drafts);
    // A drop-in with no service is rejected by parseDropIn; only coral.yaml may be valid and empty.
    if (services.length === 0 && file !== MAIN_FILE) return [invalid(file, r)];
    return [{ file, ok: true, services, warnings: [] }];
  })));
}

/** Services in effect when every file up to (not including) this one has been applied: later definitions win by name. */
function fold(accepted: Map<string, Service>, services: readonly Service[]): void {
  for (const s of services) accepted.set(s.name, s);
}

/** Whether `content` shares a port with a service accepted earlier that it does not replace by name. */
function clashesWith(content: readonly Service[], accepted: ReadonlyMap<string, Service>): boolean {
  const replaced = new Set(content.map((s) => s.name));
  return content.some((s) => [...accepted.values()].some((other) => !replaced.has(other.name) && spansOverlap(s.ports, other.ports)));
}

const isConflict = (d: Diagnostic): boolean => /already used by/.test(d.message);

/**
 * The merge contract: a valid file is in effect unless it clashes on a port with an earlier file (then
 * an error on it says so, and its last good content stays if that fits); an invalid file keeps exactly its
 * last good content; a deleted file contributes nothing; the result has unique names and disjoint ports.
 */
export function assertMergeContract(previous: Snapshot | undefined, results: readonly FileResult[], snapshot: Snapshot): void {
  const before = new Map((previous?.files ?? []).map((f) => [f.file, f]));
  assert.deepEqual(snapshot.files.map((f) => f.file), results.map((r) => r.file), 'one file state per present file, in order');
  const accepted = new Map<string, Service>();
  results.forEach((result, i) => {
    const state = snapshot.files[i];
    assert.ok(state);
    const where = `${result.file} (${result.ok ? 'valid' : 'invalid'} now)`;
    const earlier = before.get(result.file);
    const lastGood = earlier && earlier.status !== 'rejected' ? earlier.services : undefined;
    for (const error of state.errors) assert.equal(error.file, result.file, `${where}: its errors name it`);
    for (const error of state.errors) assert.ok(snapshot.diagnostics.includes(error), `${where}: error "${error.message}" is not reported`);
    const conflicts = state.errors.filter(isConflict);
    const lastGoodFits = lastGood !== undefined && !clashesWith(lastGood, accepted);
    if (result.ok) {
      const clash = clashesWith(result.services, accepted);
      if (!clash) {
        assert.equal(state.status, 'valid', `${where}: a valid file without a port clash is in effect`);
        assert.deepEqual(state.services, result.services, `${where}: contributes what it defines`);
        assert.deepEqual(state.errors, []);
      } else {
        assert.ok(conflicts.length >= 1, `${where}: dropped for a port clash that no error on it reports`);
        assert.equal(state.status, lastGoodFits ? 'stale' : 'rejected', `${where}: after a clash, its last good content stays exactly when it fits`);
        assert.deepEqual(state.services, lastGoodFits ? lastGood : []);
      }
    } else {
      for (const error of result.errors) assert.ok(state.errors.includes(error), `${where}: its parse errors are kept`);
      if (lastGood === undefined) {
        assert.equal(state.status, 'rejected', `${where}: never good, contributes nothing`);
        assert.deepEqual(state.services, []);
      } else if (lastGoodFits) {
        assert.equal(state.status, 'stale', `${where}: its last good content stays in effect`);
        assert.deepEqual(state.services, lastGood, `${where}: contributes exactly its last good services`);
      } else {
        assert.ok(conflicts.length >= 1, `${where}: last good content dropped for a clash no error reports`);
        assert.equal(state.status, 'rejected');
        assert.deepEqual(state.services, []);
      }
    }
    fold(accepted, state.services);
  });
  const present = new Set(results.map((r) => r.file));
  const names = snapshot.services.map((s) => s.name);
  assert.deepEqual([...names].sort(), [...accepted.keys()].sort(), 'the effective services are the last definition of each name');
  for (const service of snapshot.services) {
    assert.equal(service, accepted.get(service.name), `service "${service.name}" is not the last definition of its name`);
    assert.ok(present.has(service.source.file), `service "${service.name}" comes from ${service.source.file}, which no longer exists`);
  }
  assert.equal(new Set(names).size, names.length, 'service names are unique');
  for (let i = 1; i < names.length; i++) assert.ok((names[i - 1] ?? '').localeCompare(names[i] ?? '') < 0, 'services are sorted by name');
  snapshot.services.forEach((a, i) => {
    for (const b of snapshot.services.slice(i + 1)) {
      assert.ok(!spansOverlap(a.ports, b.ports), `services "${a.name}" and "${b.name}" share a port`);
    }
  });
}
