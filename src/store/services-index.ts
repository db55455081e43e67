// Every drop-in's services indexed by file, by name and by port, so `coral connect` checks a name or a port in time independent of how many services there are.
import { firstOverlap } from '../config/ports.js';
import type { FileState, PortRange, Service } from '../config/types.js';

/** A range wider than this is kept in a short list checked one by one, not port by port. */
const WIDE_RANGE = 1024;

export interface PortClaim {
  service: Service;
  port: number;
}

export class ServicesIndex {
  readonly settings: { configPath: string; servicesDir: string };
  private readonly files = new Map<string, FileState>();
  private readonly byName = new Map<string, Set<string>>();
  private readonly byPort = new Map<number, Set<string>>();
  private readonly wide = new Set<string>();

  constructor(settings: { configPath: string; servicesDir: string }) {
    this.settings = settings;
  }

  /** Index a whole view once (the CLI's direct path: O(N), as its read of every file is). */
  static of(view: { settings: { configPath: string; servicesDir: string }; files: readonly FileState[] }): ServicesIndex {
    const index = new ServicesIndex(view.settings);
    for (const file of view.files) index.set(file);
    return index;
  }

  get size(): number {
    return this.files.size;
  }

  /** Put (or replace) one file's state. */
  set(state: FileState): void {
    this.delete(state.file);
    this.files.set(state.file, state);
    for (const service of state.services) {
      add(this.byName, service.name, state.file);
      for (const range of service.ports) {
        if (range.to - range.from >= WIDE_RANGE) this.wide.add(state.file);
        else for (let port = range.from; port <= range.to; port++) add(this.byPort, port, state.file);
      }
    }
  }

  delete(path: string): void {
    const old = this.files.get(path);
    if (!old) return;
    this.files.delete(path);
    this.wide.delete(path);
    for (const service of old.services) {
      remove(this.byName, service.name, path);
      for (const range of service.ports) {
        if (range.to - range.from < WIDE_RANGE) for (let port = range.from; port <= range.to; port++) remove(this.byPort, port, path);
      }
    }
  }

  paths(): IterableIterator<string> {
    return this.files.keys();
  }

  file(path: string): FileState | undefined {
    return this.files.get(path);
  }

  /** The files that define a service named `name`: coral.yaml first, then by path. */
  definitions(name: string): FileState[] {
    const main = this.settings.configPath;
    const paths = [...(this.byName.get(name) ?? [])].sort((a, b) => (a === main ? -1 : b === main ? 1 : a < b ? -1 : a > b ? 1 : 0));
    return paths.map((p) => this.files.get(p)!);
  }

  /** A service not named `exceptName` that claims one of `ports`: the one on the lowest such port. */
  claimant(ports: readonly PortRange[], exceptName: string): PortClaim | undefined {
    let best: PortClaim | undefined;
    const consider = (service: Service, port: number | undefined): void => {
      if (port !== undefined && service.name !== exceptName && (!best || port < best.port)) best = { service, port };
    };
    for (const path of this.wide) for (const service of this.files.get(path)!.services) consider(service, firstOverlap(ports, service.ports));
    for (const range of ports) {
      for (let port = range.from; port <= range.to && (!best || port < best.port); port++) {
        for (const path of this.byPort.get(port) ?? []) {
          for (const service of this.files.get(path)!.services) consider(service, firstOverlap([{ from: port, to: port }], service.ports));
        }
      }
    }
    return best;
  }

  /** Every service name (for "did you mean"). */
  names(): string[] {
    return [...this.byName.keys()];
  }
}

function add<K>(map: Map<K, Set<string>>, key: K, path: string): void {
  const set = map.get(key);
  if (set) set.add(path);
  else map.set(key, new Set([path]));
}

function remove<K>(map: Map<K, Set<string>>, key: K, path: string): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(path);
  if (set.size === 0) map.delete(key);
}
