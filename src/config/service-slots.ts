// takeAccepted / putAccepted: a file's services in effect taken out of, or put into, the sorted service list in place (binary search by name).
import type { FileState, Service } from './types.js';

/** The services a file's content puts in effect: the last one of each name. */
function acceptedOf(state: FileState): Service[] {
  const byName = new Map<string, Service>();
  for (const service of state.services) byName.set(service.name, service);
  return [...byName.values()];
}

/** Index of `service`'s name in `sorted` (by byServiceName), or where it goes; undefined on a tie with another name. */
function findSlot(sorted: readonly Service[], name: string): { at: number; found: boolean } | undefined {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const other = sorted[mid]!;
    const order = name.localeCompare(other.name);
    if (order === 0) return other.name === name ? { at: mid, found: true } : undefined;
    if (order < 0) hi = mid;
    else lo = mid + 1;
  }
  return { at: lo, found: false };
}

/** Removes `state`'s services from `sorted`; false when one is not there (or its name ties with another). */
export function takeAccepted(sorted: Service[], state: FileState): boolean {
  return acceptedOf(state).every((service) => {
    const slot = findSlot(sorted, service.name);
    if (!slot?.found) return false;
    sorted.splice(slot.at, 1);
    return true;
  });
}

/** Inserts `state`'s services into `sorted` in order; false when one is there already (or ties with another name). */
export function putAccepted(sorted: Service[], state: FileState): boolean {
  return acceptedOf(state).every((service) => {
    const slot = findSlot(sorted, service.name);
    if (!slot || slot.found) return false;
    sorted.splice(slot.at, 0, service);
    return true;
  });
}
