// OTLP/HTTP protobuf trace export of the shared-clock events: one span per event, ids derived from the event, retried until accepted.
import { createRequire } from 'node:module';
import { request } from 'node:http';
import { eventSeconds } from './metrics.mjs';

const MAX_BATCH = 2000;

/** The OTLP protobuf messages, from OpenTelemetry's own generated code (loaded only when export is on). */
const loadMessages = () => {
  const root = createRequire(import.meta.url)('@opentelemetry/otlp-transformer/build/src/generated/root.js');
  return root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
};

/** Event k's span: every instance that observed k exports the same ids and times. */
const spanOf = (k, periodMs) => {
  const id = (bytes) => Buffer.from(k.toString(16).padStart(bytes * 2, '0'), 'hex');
  const startNs = BigInt(k) * BigInt(periodMs) * 1_000_000n;
  return {
    traceId: id(16), spanId: id(8), name: 'GET /', kind: 2,
    startTimeUnixNano: startNs.toString(), endTimeUnixNano: (startNs + BigInt(Math.round(eventSeconds(k) * 1e9))).toString(),
    attributes: [{ key: 'beyla_double.event', value: { intValue: String(k) } }],
  };
};

const post = (url, body) => new Promise((resolve) => {
  const req = request(url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length }, timeout: 5000 }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode ?? 0));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => resolve(0));
  req.end(body);
});

/**
 * Every `intervalMs` (on wall-clock multiples, like every instance), POSTs the spans of the events
 * observed since the last accepted export; a refused or failed export is sent again next time.
 */
export const startOtlpExport = ({ url, periodMs, attachedAtMs, intervalMs, pid, log }) => {
  const Request = loadMessages();
  let exportedUpTo = Math.floor(attachedAtMs / periodMs);
  let busy = false;
  let timer;
  const exportOnce = async () => {
    const last = Math.floor(Date.now() / periodMs);
    if (busy || last <= exportedUpTo) return;
    busy = true;
    const upTo = Math.min(last, exportedUpTo + MAX_BATCH);
    const spans = [];
    for (let k = exportedUpTo + 1; k <= upTo; k += 1) spans.push(spanOf(k, periodMs));
    const body = Request.encode(Request.fromObject({
      resourceSpans: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'double-clock' } }, { key: 'process.pid', value: { intValue: String(pid) } }] },
        scopeSpans: [{ scope: { name: 'beyla-double' }, spans }],
      }],
    })).finish();
    const status = await post(url, Buffer.from(body));
    if (status >= 200 && status < 300) exportedUpTo = upTo;
    else log.warn('failed to export spans', { component: 'otel.TracesExporter', status, retry: true });
    busy = false;
  };
  const schedule = () => {
    timer = setTimeout(() => { void exportOnce().finally(schedule); }, intervalMs - (Date.now() % intervalMs));
  };
  schedule();
  return { stop: () => clearTimeout(timer) };
};
