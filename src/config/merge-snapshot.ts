// The pure merge: per-file results + the previous snapshot -> the effective services, keeping each bad file's last good content.
import type { AgentSettings, Diagnostic, FileResult, FileState, Origin, Service, Snapshot } from './types.js';

export interface MergeInput {
  /** The previous snapshot: where a now-invalid file's last good content comes from. */
  previous?: Snapshot | undefined;
  settings: AgentSettings;
  origins: Record<string, Origin>;
  /** The main file first, then the drop-ins in lexical order. A file not listed was deleted. */
  results: readonly FileResult[];
  /** Problems that belong to no file (environment, flags, the directory itself). */
  extraDiagnostics?: readonly Diagnostic[];
}

function where(service: Service): string {
  return `${service.source.file}:${service.source.line}`;
}

/** Which accepted service holds each port (accepted services never share one). */
export type PortOwners = Map<number, Service>;

function firstOwned(service: Service, owners: PortOwners, replaced: ReadonlySet<string>): { port: number; other: Service } | undefined {
  for (const range of service.ports) {
    for (let port = range.from; port <= range.to; port++) {
      const other = owners.get(port);
      if (other && !replaced.has(other.name)) return { port, other };
    }
  }
  return undefined;
}

/** The port conflicts `candidate` would have with the services accepted so far (ignoring those it replaces). */
function conflicts(candidate: readonly Service[], owners: PortOwners, file: string): Diagnostic[] {
  const replaced = new Set(candidate.map((s) => s.name));
  const out: Diagnostic[] = [];
  for (const service of candidate) {
    const hit = firstOwned(service, owners, replaced);
    if (hit === undefined) continue;
    const { port, other } = hit;
    out.push({
      file, line: service.source.line, col: service.source.col, severity: 'error',
      message: `port ${port} of service "${service.name}" is already used by service "${other.name}" (${where(other)}); this file is rejected`,
      hint: `each port belongs to one service: change the port here or in ${other.source.file}`,
    });
  }
  return out;
}

function setOwner(owners: PortOwners, service: Service, owner: Service | undefined): void {
  for (const range of service.ports) {
    for (let port = range.from; port <= range.to; port++) {
      if (owner) owners.set(port, owner);
      else if (owners.get(port) === service) owners.delete(port);
    }
  }
}

/** One file's part of the merge: its state and the diagnostics it adds, in order. */
export interface MergedFile {
  state: FileState;
  diagnostics: Diagnostic[];
}

/**
 * Merge one file into what the files before it accepted (`accepted`, `owners`, updated in place).
 * `before` is the file's state in the previous snapshot (where its last good content comes from).
 */
export function mergeFile(result: FileResult, before: FileState | undefined, accepted: Map<string, Service>, owners: PortOwners): MergedFile {
  const diagnostics: Diagnostic[] = [];
  const lastGood = before && before.status !== 'rejected' ? before.services : undefined;
  const errors: Diagnostic[] = result.ok ? [] : [...result.errors];
  let content: readonly Service[] | undefined = result.ok ? result.services : lastGood;
  let status: FileState['status'] = result.ok ? 'valid' : lastGood ? 'stale' : 'rejected';
  if (result.ok) diagnostics.push(...result.warnings);

  if (content) {
    const clash = conflicts(content, owners, result.file);
    if (clash.length > 0) {
      errors.push(...clash);
      const fallback = result.ok && lastGood && conflicts(lastGood, owners, result.file).length === 0 ? lastGood : undefined;
      content = fallback;
      status = fallback ? 'stale' : 'rejected';
    }
  }
  if (errors.length > 0 && status === 'stale') {
    diagnostics.push({ ...errors[0]!, severity: 'warning', message: `${result.file} is invalid; its last valid content stays in effect`, hint: 'fix the errors above; nothing is dropped until then' });
  }
  diagnostics.push(...errors);

  for (const service of content ?? []) {
    const earlier = accepted.get(service.name);
    if (earlier) {
      diagnostics.push({
        file: service.source.file, line: service.source.line, col: service.source.col, severity: 'warning',
        message: `service "${service.name}" here replaces the one defined at ${where(earlier)}`,
        hint: 'the later file wins: drop-ins after coral.yaml, in lexical order',
      });
    }
    if (earlier) setOwner(owners, earlier, undefined);
    setOwner(owners, service, service);
    accepted.set(service.name, service);
  }
  return { state: { file: result.file, status, services: content ? [...content] : [], errors }, diagnostics };
}

/** The order of `snapshot.services`. */
export function byServiceName(a: Service, b: Service): number {
  return a.name.localeCompare(b.name);
}

export function mergeSnapshot(input: MergeInput): Snapshot {
  const previousFiles = new Map((input.previous?.files ?? []).map((f) => [f.file, f]));
  const accepted = new Map<string, Service>();
  const owners: PortOwners = new Map();
  const files: FileState[] = [];
  const diagnostics: Diagnostic[] = [...(input.extraDiagnostics ?? [])];
  for (const result of input.results) {
    const merged = mergeFile(result, previousFiles.get(result.file), accepted, owners);
    diagnostics.push(...merged.diagnostics);
    files.push(merged.state);
  }
  return {
    settings: input.settings,
    origins: input.origins,
    services: [...accepted.values()].sort(byServiceName),
    files,
    diagnostics,
  };
}
