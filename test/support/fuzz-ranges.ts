// The fuzz tests' own port-set arithmetic (an oracle written apart from src/), on inclusive ranges.

export interface Span {
  from: number;
  to: number;
}

/** The pattern Beyla accepts for an `open_ports` string, copied from BEYLA.md (not imported from src/). */
export const BEYLA_OPEN_PORTS = /^\s*\d+\s*(-\s*\d+\s*)?(,\s*\d+\s*(-\s*\d+\s*)?)*$/;

/** Sorted, overlapping and adjacent spans joined: the one canonical form of a port set. */
export function normalizeSpans(spans: readonly Span[]): Span[] {
  const sorted = spans.map((s) => ({ from: s.from, to: s.to })).sort((a, b) => a.from - b.from);
  const out: Span[] = [];
  for (const span of sorted) {
    const last = out.at(-1);
    if (last !== undefined && span.from <= last.to + 1) last.to = Math.max(last.to, span.to);
    else out.push(span);
  }
  return out;
}

/** The set `spans` without the single ports in `holes`, canonical. */
export function removePorts(spans: readonly Span[], holes: Iterable<number>): Span[] {
  let pieces = normalizeSpans(spans);
  for (const hole of new Set(holes)) {
    pieces = pieces.flatMap((p) => {
      if (hole < p.from || hole > p.to) return [p];
      return [{ from: p.from, to: hole - 1 }, { from: hole + 1, to: p.to }].filter((q) => q.from <= q.to);
    });
  }
  return normalizeSpans(pieces);
}

export function countSpanPorts(spans: readonly Span[]): number {
  return normalizeSpans(spans).reduce((n, s) => n + s.to - s.from + 1, 0);
}

/** Whether two port sets share a port. */
export function spansOverlap(a: readonly Span[], b: readonly Span[]): boolean {
  return a.some((x) => b.some((y) => Math.max(x.from, y.from) <= Math.min(x.to, y.to)));
}

/** "3000, 8080-8089" -> spans, read the way Beyla reads it; throws on text outside BEYLA_OPEN_PORTS. */
export function readOpenPorts(text: string): Span[] {
  if (!BEYLA_OPEN_PORTS.test(text)) throw new Error(`"${text}" does not match Beyla's open_ports pattern`);
  return normalizeSpans(text.split(',').map((part) => {
    const [from = Number.NaN, to = from] = part.split('-').map((s) => Number(s.trim()));
    return { from, to };
  }));
}
