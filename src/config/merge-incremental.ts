// The merge in O(changed): files whose ports and names no other file touches are merged alone; anything else is merged in full, with the same result.
import { claim, count, eachPort, lastGoodOf, sameServices, touched, type Claims } from './file-touches.js';
import { byServiceName, mergeFile, type MergedFile, type MergeInput } from './merge-snapshot.js';
import { putAccepted, takeAccepted } from './service-slots.js';
import type { FileResult, FileState, PortRange, Service, Snapshot } from './types.js';

/** A file whose state may differ between the previous snapshot and this one. */
export interface FileDelta {
  file: string;
  before: FileState | undefined;
  after: FileState | undefined;
}

/**
 * What changed against `previous`, when the merge knows it: the files whose state may differ, those
 * still present in the new snapshot's order, then the removed ones in the previous order. Every other
 * file's state is the very object of the previous snapshot, and no port or service name of a listed
 * file is touched by any other file.
 */
export interface SnapshotDelta {
  files: FileDelta[];
}

export interface IncrementalMergeResult {
  snapshot: Snapshot;
  delta?: SnapshotDelta;
}

interface Entry {
  result: FileResult;
  /** The last good content this merge used (from the previous snapshot's state of the file). */
  lastGood: readonly Service[] | undefined;
  merged: MergedFile;
  /** Every port and name the merge of this file looks at (its parsed services and its last good ones). */
  ranges: readonly PortRange[];
  names: readonly string[];
  index: number;
}

/**
 * `merge(input)` returns what `mergeSnapshot(input)` returns. When `input.previous` is the snapshot
 * this merge made last, it re-merges only the files that changed (a new result object, added,
 * removed) or whose last good content moved, provided no other file touches their ports or names
 * (each is then merged alone, as nothing before it can clash with it); otherwise every file.
 */
export class IncrementalMerge {
  private entries = new Map<string, Entry>();
  private portUsers = new Map<number, number>();
  private nameUsers = new Map<string, number>();
  /** Files not in effect as parsed (stale, rejected) whose state moved last time: their last good content is a new input now. */
  private carried = new Set<string>();
  private output: Snapshot | undefined;
  /** What the last merge did: for tests and benchmarks. */
  last = { incremental: false, remerged: 0 };

  merge(input: MergeInput): IncrementalMergeResult {
    const done = input.previous !== undefined && input.previous === this.output ? this.tryIncremental(input) : undefined;
    return done ?? { snapshot: this.full(input) };
  }

  private full(input: MergeInput): Snapshot {
    const previousFiles = new Map((input.previous?.files ?? []).map((f) => [f.file, f]));
    const accepted = new Map<string, Service>();
    const owners = new Map<number, Service>();
    this.entries = new Map();
    this.portUsers = new Map();
    this.nameUsers = new Map();
    this.carried = new Set();
    const files: FileState[] = [];
    const diagnostics = [...(input.extraDiagnostics ?? [])];
    input.results.forEach((result, index) => {
      const lastGood = lastGoodOf(previousFiles.get(result.file));
      const merged = mergeFile(result, previousFiles.get(result.file), accepted, owners);
      this.remember(result, lastGood, merged, index);
      diagnostics.push(...merged.diagnostics);
      files.push(merged.state);
    });
    this.last = { incremental: false, remerged: input.results.length };
    this.output = { settings: input.settings, origins: input.origins, services: [...accepted.values()].sort(byServiceName), files, diagnostics };
    return this.output;
  }

  private remember(result: FileResult, lastGood: readonly Service[] | undefined, merged: MergedFile, index: number): void {
    const { ranges, names } = touched(result, lastGood);
    for (const name of names) count(this.nameUsers, name, 1);
    eachPort(ranges, (port) => count(this.portUsers, port, 1));
    this.entries.set(result.file, { result, lastGood, merged, ranges, names, index });
    // A valid file's outcome does not depend on its last good content; any other's may, and that input moved.
    if (merged.state.status !== 'valid' && !sameServices(lastGoodOf(merged.state), lastGood)) this.carried.add(result.file);
  }

  private forget(entry: Entry): void {
    for (const name of entry.names) count(this.nameUsers, name, -1);
    eachPort(entry.ranges, (port) => count(this.portUsers, port, -1));
    this.entries.delete(entry.result.file);
    this.carried.delete(entry.result.file);
  }

  /** undefined: a changed file shares a port or a name with another file (the caller merges in full, which rebuilds the indexes). */
  private tryIncremental(input: MergeInput): IncrementalMergeResult | undefined {
    const previous = this.output!;
    const plans: Plan[] = [];
    const at: (Entry | undefined)[] = new Array<Entry | undefined>(input.results.length);
    let kept = 0;
    input.results.forEach((result, i) => {
      const before = this.entries.get(result.file);
      at[i] = before;
      if (before) kept++;
      if (before && before.result === result && !this.carried.has(result.file)) return;
      const lastGood = lastGoodOf(before?.merged.state);
      plans.push({ result, before, lastGood, next: touched(result, lastGood) });
    });
    // Every entry was matched by a result unless some file is gone (only then are they all looked at).
    let removed: Entry[] = [];
    if (kept !== this.entries.size) {
      const present = new Set(input.results.map((r) => r.file));
      removed = [...this.entries.values()].filter((e) => !present.has(e.result.file)).sort((a, b) => a.index - b.index);
    }

    // The changed files' old and new ports and names: no two of them, and no other file, may touch the same one.
    const claims: Claims = { ports: new Map(), names: new Map() };
    for (const plan of plans) {
      const file = plan.result.file;
      if (!claim(claims, file, [...plan.next.names, ...(plan.before?.names ?? [])], [...plan.next.ranges, ...(plan.before?.ranges ?? [])])) return undefined;
    }
    for (const entry of removed) if (!claim(claims, entry.result.file, entry.names, entry.ranges)) return undefined;
    // The indexes count the old state, where every other file touches what it touches now.
    for (const [name, file] of claims.names) {
      const mine = this.entries.get(file)?.names.includes(name) ? 1 : 0;
      if ((this.nameUsers.get(name) ?? 0) !== mine) return undefined;
    }
    for (const [port, file] of claims.ports) {
      const entry = this.entries.get(file);
      const mine = entry && entry.ranges.some((r) => port >= r.from && port <= r.to) ? 1 : 0;
      if ((this.portUsers.get(port) ?? 0) !== mine) return undefined;
    }

    // Isolated: each changed file is merged alone (nothing before it can clash with it or share a name).
    const services = [...previous.services];
    for (const entry of removed) if (!takeAccepted(services, entry.merged.state)) return undefined;
    for (const plan of plans) if (plan.before && !takeAccepted(services, plan.before.merged.state)) return undefined;
    const merged = plans.map((plan) => mergeFile(plan.result, plan.before?.merged.state, new Map(), new Map()));
    for (const m of merged) if (!putAccepted(services, m.state)) return undefined;

    // Committed from here on.
    for (const entry of removed) this.forget(entry);
    plans.forEach((plan, i) => {
      if (plan.before) this.forget(plan.before);
      this.carried.delete(plan.result.file);
      this.remember(plan.result, plan.lastGood, merged[i]!, 0);
    });
    const files: FileState[] = new Array<FileState>(input.results.length);
    const diagnostics = [...(input.extraDiagnostics ?? [])];
    const changedAt = new Set(plans.map((p) => p.result.file));
    input.results.forEach((result, index) => {
      const entry = changedAt.has(result.file) ? this.entries.get(result.file)! : at[index]!;
      entry.index = index;
      files[index] = entry.merged.state;
      for (const d of entry.merged.diagnostics) diagnostics.push(d);
    });
    this.last = { incremental: true, remerged: plans.length };
    this.output = { settings: input.settings, origins: input.origins, services, files, diagnostics };
    const delta: FileDelta[] = plans
      .map((plan, i) => ({ file: plan.result.file, before: plan.before?.merged.state, after: merged[i]!.state, at: this.entries.get(plan.result.file)!.index }))
      .sort((a, b) => a.at - b.at)
      .map(({ file, before, after }) => ({ file, before, after }));
    for (const entry of removed) delta.push({ file: entry.result.file, before: entry.merged.state, after: undefined });
    return { snapshot: this.output, delta: { files: delta } };
  }
}

interface Plan {
  result: FileResult;
  before: Entry | undefined;
  lastGood: readonly Service[] | undefined;
  next: { ranges: PortRange[]; names: string[] };
}
