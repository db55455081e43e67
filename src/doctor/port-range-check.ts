// Configured service ports the kernel may hand out as a connection's source port (inside ip_local_port_range, not reserved).
import { mergeRanges } from '../config/ports.js';
import type { PortRange } from '../config/types.js';
import type { CheckResult } from './host-checks.js';

/** "8080,9000-9010" (the sysctl's form; empty for none) -> ranges; undefined parts are skipped. */
export function parseReservedPorts(text: string): PortRange[] {
  return mergeRanges(text.split(',').map((part) => part.trim()).filter(Boolean).flatMap((part) => {
    const [from, to = from] = part.split('-').map(Number);
    return from !== undefined && to !== undefined && Number.isInteger(from) && Number.isInteger(to) && from <= to ? [{ from, to }] : [];
  }));
}

const text = (ranges: readonly PortRange[]): string => ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(',');

/** `ranges` inside [lo, hi] and outside `reserved`, merged. */
function exposed(ranges: readonly PortRange[], lo: number, hi: number, reserved: readonly PortRange[]): PortRange[] {
  const out: PortRange[] = [];
  for (const r of mergeRanges(ranges)) {
    let from = Math.max(r.from, lo);
    const to = Math.min(r.to, hi);
    for (const hole of reserved) {
      if (from > to) break;
      if (hole.to < from || hole.from > to) continue;
      if (hole.from > from) out.push({ from, to: hole.from - 1 });
      from = Math.max(from, hole.to + 1);
    }
    if (from <= to) out.push({ from, to });
  }
  return mergeRanges(out);
}

export interface EphemeralPortsFacts {
  /** net.ipv4.ip_local_port_range; undefined when unreadable. */
  localPortRange?: [number, number];
  /** net.ipv4.ip_local_reserved_ports. */
  reservedPorts?: PortRange[];
}

/**
 * A service port inside the ephemeral range can be taken by any outgoing connection's source port
 * (the agent's own probes included) while the service is not listening (booting, restarting): it
 * then cannot bind. Reserving the ports keeps the kernel from picking them; explicit binds still work.
 */
export function ephemeralPortsCheck(f: EphemeralPortsFacts, services: ReadonlyArray<{ name: string; ports: readonly PortRange[] }>): CheckResult {
  const id = 'ephemeral_ports';
  const title = 'service ports';
  if (!f.localPortRange) return { id, title, status: 'warn', message: 'cannot read net.ipv4.ip_local_port_range' };
  const [lo, hi] = f.localPortRange;
  const reserved = f.reservedPorts ?? [];
  const hits = services.map((s) => ({ name: s.name, ports: exposed(s.ports, lo, hi, reserved) })).filter((s) => s.ports.length > 0);
  if (hits.length === 0) {
    return { id, title, status: 'ok', message: `no configured port in net.ipv4.ip_local_port_range (${lo}-${hi}) is left unreserved` };
  }
  const all = mergeRanges(hits.flatMap((s) => s.ports));
  return {
    id, title, status: 'warn',
    message: `${hits.map((s) => `${s.name} ${text(s.ports)}`).join(', ')}: inside net.ipv4.ip_local_port_range (${lo}-${hi}) and not in net.ipv4.ip_local_reserved_ports, so any outgoing connection may take one as its source port and the service then cannot bind it`,
    hint: `sysctl -w net.ipv4.ip_local_reserved_ports=${text(mergeRanges([...reserved, ...all]))} (and the same line in /etc/sysctl.d/ to keep it)`,
  };
}
