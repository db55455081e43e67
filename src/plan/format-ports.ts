// Port ranges <-> Beyla's `open_ports` string ("3000,8080-8089"), adjacent ports compressed into ranges.
import { CoralError } from '../errors.js';
import { MAX_PORT, MIN_PORT, mergeRanges } from '../config/ports.js';
import type { PortRange } from '../config/types.js';

/** The pattern Beyla v3.31 accepts for a ports string. */
export const BEYLA_PORTS_PATTERN = /^\s*\d+\s*(-\s*\d+\s*)?(,\s*\d+\s*(-\s*\d+\s*)?)*$/;

/** Ranges -> "3000,8080-8089": sorted, overlapping and adjacent ranges merged; "" for none. */
export function formatPorts(ranges: readonly PortRange[]): string {
  return mergeRanges(ranges).map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(',');
}

/** "3000, 8080-8089" -> merged ranges; throws CoralError('INVALID_CONFIG') on text Beyla would reject. */
export function parsePorts(text: string): PortRange[] {
  if (!BEYLA_PORTS_PATTERN.test(text)) {
    throw new CoralError('INVALID_CONFIG', `"${text}" is not a Beyla ports string`, {
      hint: 'write ports and ranges separated by commas, e.g. "3000,8080-8089"',
    });
  }
  const ranges = text.split(',').map((part) => {
    const [fromText = '', toText] = part.split('-');
    const from = Number(fromText.trim());
    const to = toText === undefined ? from : Number(toText.trim());
    if (from < MIN_PORT || to > MAX_PORT || to < from) {
      throw new CoralError('INVALID_CONFIG', `"${part.trim()}" in "${text}" is not a valid port range`);
    }
    return { from, to };
  });
  return mergeRanges(ranges);
}

/** `ranges` minus the single ports in `exclude`, merged. */
export function subtractPorts(ranges: readonly PortRange[], exclude: readonly number[]): PortRange[] {
  const holes = [...new Set(exclude)].sort((a, b) => a - b);
  const out: PortRange[] = [];
  for (const range of mergeRanges(ranges)) {
    let from = range.from;
    for (const hole of holes) {
      if (hole < from || hole > range.to) continue;
      if (hole > from) out.push({ from, to: hole - 1 });
      from = hole + 1;
    }
    if (from <= range.to) out.push({ from, to: range.to });
  }
  return out;
}
