// selectBody: the part of one OTLP request a generation may forward (all, the items inside its window, or none), in the request's encoding.
import type http from 'node:http';
import { gzipSync } from 'node:zlib';
import type { GenerationWindows } from './generation-windows.js';
import { gunzipAtMost } from './gunzip-at-most.js';
import type { OtlpSignal } from './otlp-relay-types.js';
import type { RelayMetrics } from './relay-metrics.js';
import { OtlpBodyError, splitByTime } from './split-by-time.js';

export interface SelectBodyOptions {
  windows: GenerationWindows;
  metrics: RelayMetrics;
  /** Largest body once decompressed. */
  maxBody: number;
}

/**
 * The body to forward for this generation: all of it, the part inside its window, or null (another
 * generation sends it all). Throws OtlpBodyError for a body it must cut and cannot read.
 */
export async function selectBody(opts: SelectBodyOptions, req: http.IncomingMessage, signal: OtlpSignal, generation: number, raw: Buffer): Promise<Buffer | null> {
  const { windows, metrics, maxBody } = opts;
  const verdict = windows.verdict(generation);
  if (verdict.kind === 'none') return null;
  if (signal === 'logs') return raw; // not split: the active generation's go through
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip') throw new OtlpBodyError(`content-encoding ${encoding} is not supported (OTLP uses gzip or none)`);
  const json = String(req.headers['content-type'] ?? '').includes('json');
  if (verdict.kind === 'all') {
    // Nothing to cut: read only for the latest item time (a later promotion with no live predecessor starts there).
    try {
      const split = splitByTime({ signal, json, body: encoding === 'gzip' ? await gunzipAtMost(raw, maxBody) : raw, keep: () => true });
      windows.forwarded(split.maxKeptNs);
    } catch (error) {
      if (!(error instanceof OtlpBodyError)) throw error; // the collector judges a body the relay cannot read
    }
    return raw;
  }
  const plain = encoding === 'gzip' ? await gunzipAtMost(raw, maxBody) : raw;
  const { window } = verdict;
  const split = splitByTime({ signal, json, body: plain, keep: (ns) => ns >= window.fromNs && ns < window.toNs });
  if (split.kept > 0) windows.forwarded(split.maxKeptNs);
  if (split.dropped > 0) metrics.itemsDropped.inc({ signal }, split.dropped);
  if (split.body === null) return null;
  if (split.body === plain) return raw;
  return encoding === 'gzip' ? gzipSync(split.body) : Buffer.from(split.body);
}
