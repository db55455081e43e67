// OTLP/HTTP export (protobuf or JSON) of the shared-clock events: one span per event and delta metric points per interval, retried until accepted, flushed at shutdown.
import { createRequire } from 'node:module';
import { request } from 'node:http';
import { eventSeconds, observedEvents } from './metrics.mjs';

const MAX_BATCH = 2000;
const MAX_PENDING_POINTS = 500;
const DELTA = 1; // AggregationTemporality
const BOUNDS = [0.005, 0.5];

/** OpenTelemetry's generated protobuf code (a dev dependency), loaded only when export is on. */
const loadMessages = () => {
  const root = createRequire(import.meta.url)('@opentelemetry/otlp-transformer/build/src/generated/root.js');
  return { traces: root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest, metrics: root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest };
};

const hexId = (k, bytes) => k.toString(16).padStart(bytes * 2, '0');
const ns = (ms) => (BigInt(ms) * 1_000_000n).toString();

/** Event k's span: every instance that observed k exports the same ids and times. */
const spanOf = (k, periodMs) => {
  const startNs = BigInt(k) * BigInt(periodMs) * 1_000_000n;
  return {
    traceId: hexId(k, 16), spanId: hexId(k, 8), name: 'GET /', kind: 2,
    startTimeUnixNano: startNs.toString(), endTimeUnixNano: (startNs + BigInt(Math.round(eventSeconds(k) * 1e9))).toString(),
    attributes: [{ key: 'beyla_double.event', value: { intValue: String(k) } }],
  };
};

/** The delta points of the events in (fromMs, toMs]: a request counter and a duration histogram, as Beyla exports with delta temporality. */
const pointsOf = ({ fromMs, toMs, periodMs }) => {
  const { count, slow, sumSeconds } = observedEvents({ periodMs, attachedAtMs: fromMs, nowMs: toMs });
  const times = { startTimeUnixNano: ns(fromMs), timeUnixNano: ns(toMs) };
  const attributes = [{ key: 'http.request.method', value: { stringValue: 'GET' } }];
  return {
    counter: { ...times, attributes, asInt: String(count) },
    histogram: { ...times, attributes, count: String(count), sum: Number(sumSeconds.toFixed(6)), bucketCounts: [String(count - slow), String(slow), '0'], explicitBounds: BOUNDS },
  };
};

const resourceOf = (pid) => ({ attributes: [{ key: 'service.name', value: { stringValue: 'double-clock' } }, { key: 'process.pid', value: { intValue: String(pid) } }] });
const scope = { name: 'beyla-double' };

/** Protobuf via OpenTelemetry's messages (ids as bytes), or OTLP/JSON (ids as hex, 64-bit integers as strings). */
const encoder = (Message, json) => (payload) => {
  if (json) return Buffer.from(JSON.stringify(payload));
  const withBytes = JSON.parse(JSON.stringify(payload), (key, value) => (key === 'traceId' || key === 'spanId' ? Buffer.from(value, 'hex') : value));
  return Buffer.from(Message.encode(Message.fromObject(withBytes)).finish());
};

const post = (url, body, json) => new Promise((resolve) => {
  const headers = { 'content-type': json ? 'application/json' : 'application/x-protobuf', 'content-length': body.length };
  const req = request(url, { method: 'POST', headers, timeout: 5000 }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode ?? 0));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => resolve(0));
  req.end(body);
});

/**
 * Every `intervalMs`, on wall-clock multiples (the same instants in every instance): the spans of
 * the events observed since the last accepted export, and one delta point per metric and interval
 * between two multiples (the first starts when the probes were attached; a late timer sends the
 * intervals it missed, each on its own, so overlapping instances' points match). A refused
 * export is sent again with the next one. `flush()` (at shutdown) collects and sends once more up
 * to now, as Beyla's SDK does when it stops.
 */
export const startOtlpExport = ({ traces, metrics, periodMs, attachedAtMs, intervalMs, pid, log }) => {
  const messages = loadMessages();
  const encode = { traces: traces && encoder(messages.traces, traces.json), metrics: metrics && encoder(messages.metrics, metrics.json) };
  let exportedUpTo = Math.floor(attachedAtMs / periodMs);
  let collectedAtMs = attachedAtMs;
  let pending = []; // metric points not yet accepted
  let timer;
  let running = Promise.resolve();

  const exportSpans = async (nowMs) => {
    const last = Math.floor(nowMs / periodMs);
    if (!traces || last <= exportedUpTo) return;
    const upTo = Math.min(last, exportedUpTo + MAX_BATCH);
    const spans = [];
    for (let k = exportedUpTo + 1; k <= upTo; k += 1) spans.push(spanOf(k, periodMs));
    const body = encode.traces({ resourceSpans: [{ resource: resourceOf(pid), scopeSpans: [{ scope, spans }] }] });
    const status = await post(traces.url, body, traces.json);
    if (status >= 200 && status < 300) exportedUpTo = upTo;
    else log.warn('failed to export spans', { component: 'otel.TracesExporter', status, retry: true });
  };

  const exportPoints = async (nowMs) => {
    if (!metrics) return;
    // One point per interval, even when this timer fired late: every instance's points keep the same bounds.
    while (nowMs > collectedAtMs) {
      const toMs = Math.min(nowMs, (Math.floor(collectedAtMs / intervalMs) + 1) * intervalMs);
      pending.push(pointsOf({ fromMs: collectedAtMs, toMs, periodMs }));
      collectedAtMs = toMs;
    }
    pending = pending.slice(-MAX_PENDING_POINTS);
    if (pending.length === 0) return;
    const sent = pending;
    const body = encode.metrics({
      resourceMetrics: [{
        resource: resourceOf(pid),
        scopeMetrics: [{
          scope,
          metrics: [
            { name: 'beyla_double.observed_events', unit: '1', sum: { aggregationTemporality: DELTA, isMonotonic: true, dataPoints: sent.map((p) => p.counter) } },
            { name: 'http.client.request.duration', unit: 's', histogram: { aggregationTemporality: DELTA, dataPoints: sent.map((p) => p.histogram) } },
          ],
        }],
      }],
    });
    const status = await post(metrics.url, body, metrics.json);
    if (status >= 200 && status < 300) pending = pending.slice(sent.length);
    else log.warn('failed to export metrics', { component: 'otel.MetricsExporter', status, retry: true });
  };

  const exportAll = (nowMs) => {
    running = running.then(() => Promise.all([exportSpans(nowMs), exportPoints(nowMs)])).then(() => undefined);
    return running;
  };
  const schedule = () => {
    timer = setTimeout(() => {
      const tick = Math.floor(Date.now() / intervalMs) * intervalMs;
      void exportAll(tick).finally(schedule);
    }, intervalMs - (Date.now() % intervalMs));
  };
  schedule();
  return {
    stop: () => clearTimeout(timer),
    /** The last collection and export, up to now; resolves once it is answered (or failed). */
    flush: () => {
      clearTimeout(timer);
      return exportAll(Date.now());
    },
  };
};
