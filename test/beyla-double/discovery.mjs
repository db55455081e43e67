// Beyla's process discovery, imitated: listeners on selected ports become "instrumented processes".
import { existsSync } from 'node:fs';
import { findOwners, listListeners, processInfo } from './listeners.mjs';

/** Ranges wider than this are ignored (a catch-all would otherwise grab every listener on the host). */
export const MAX_RANGE_WIDTH = 1024;

const usableRanges = (selector) => selector.ranges?.filter(({ from, to }) => to - from + 1 <= MAX_RANGE_WIDTH);

const inRanges = (ranges, port) => ranges.some(({ from, to }) => port >= from && port <= to);

/** Fields inside one selector are ANDed; a selector with neither usable ports nor exe_path matches nothing. */
const matches = (selector, { port, exe }) => {
  const ranges = usableRanges(selector);
  if (!ranges && !selector.exeMatcher) return false;
  if (ranges && !inRanges(ranges, port)) return false;
  return !selector.exeMatcher || selector.exeMatcher.test(exe);
};

/**
 * Discovery state for one instance. `poll()` rescans listeners and returns the newly instrumented
 * processes; `instrumented` maps a key (pid, or port when the owner is unknown) to
 * {pid, exe, name, service, ports, polls}.
 */
export const createDiscovery = ({ config, ownPid = process.pid, ownPorts = new Set() }) => {
  const instrumented = new Map();
  const owners = new Map();
  const needsAllOwners = config.selectors.some((selector) => !selector.ranges);

  const candidate = ({ port }) => needsAllOwners || config.selectors.some((selector) => inRanges(usableRanges(selector) ?? [], port));

  const forget = (listening) => {
    for (const [key, entry] of instrumented) {
      const gone = entry.pid > 0 ? !existsSync(`/proc/${entry.pid}`) : !entry.ports.some((port) => listening.has(port));
      if (gone) instrumented.delete(key);
    }
  };

  const poll = () => {
    const all = listListeners();
    const listeners = all.filter(candidate);
    const unknown = new Set(listeners.map(({ inode }) => inode).filter((inode) => !owners.has(inode)));
    const found = findOwners(unknown);
    for (const inode of unknown) owners.set(inode, found.get(inode) ?? 0); // 0: owner unreadable, not looked up again
    const live = new Set(all.map(({ inode }) => inode));
    for (const inode of owners.keys()) if (!live.has(inode)) owners.delete(inode);
    forget(new Set(all.map(({ port }) => port)));
    const selected = new Map(); // key -> entry this poll; a process with several selected ports is one entry
    for (const { port, inode } of listeners) {
      const pid = owners.get(inode) ?? 0;
      if (pid === ownPid || (pid === 0 && ownPorts.has(port))) continue; // Beyla excludes itself
      const info = pid > 0 ? processInfo(pid) : { exe: 'unknown', name: 'unknown', ageMs: Infinity };
      const target = { port, exe: info.exe };
      const selector = config.selectors.find((candidateSelector) => matches(candidateSelector, target));
      if (!selector || config.excludes.some((exclude) => matches(exclude, target))) continue;
      if (info.ageMs < config.minProcessAgeMs) continue; // too young: looked at again next poll
      const key = pid > 0 ? `pid:${pid}` : `port:${port}`;
      const entry = selected.get(key)
        ?? { pid, inode, exe: info.exe, name: info.name, service: selector.name ?? info.name, ports: [], polls: 0 };
      if (!entry.ports.includes(port)) entry.ports.push(port);
      selected.set(key, entry);
    }
    const fresh = [];
    for (const [key, entry] of selected) {
      entry.ports.sort((a, b) => a - b);
      const known = instrumented.get(key);
      if (known) {
        known.ports = [...new Set([...known.ports, ...entry.ports])].sort((a, b) => a - b);
        continue;
      }
      instrumented.set(key, entry);
      fresh.push(entry);
    }
    for (const entry of instrumented.values()) entry.polls += 1;
    return fresh;
  };

  return { poll, instrumented };
};
