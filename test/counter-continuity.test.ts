// Table tests of counter continuity: the offsets carried at a swap and the values served with them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { applyOffsets, carryOffsets, cumulativeValues, type Offsets } from '../src/metrics/counter-continuity.js';
import { parseSampleLine } from '../src/metrics/exposition-samples.js';

const NOW = 1_000_000;
const none: Offsets = new Map();

/** A histogram, a counter, a summary and a gauge, as Beyla writes them (text format 0.0.4). */
const beyla = (v: { bucket1: number; bucketInf: number; sum: number; requests: number; qsum: number; qcount: number; gauge: number }): string => [
  '# HELP http_server_request_duration_seconds Duration of HTTP service calls from the server side, in seconds.',
  '# TYPE http_server_request_duration_seconds histogram',
  `http_server_request_duration_seconds_bucket{http_route="/",le="0.1"} ${v.bucket1}`,
  `http_server_request_duration_seconds_bucket{http_route="/",le="+Inf"} ${v.bucketInf}`,
  `http_server_request_duration_seconds_sum{http_route="/"} ${v.sum}`,
  `http_server_request_duration_seconds_count{http_route="/"} ${v.bucketInf}`,
  'http_server_request_duration_seconds_created{http_route="/"} 1.7e+09',
  '# TYPE requests_total counter',
  `requests_total{service="api"} ${v.requests}`,
  '# TYPE rpc_seconds summary',
  `rpc_seconds{quantile="0.5"} 0.25`,
  `rpc_seconds_sum ${v.qsum}`,
  `rpc_seconds_count ${v.qcount}`,
  '# TYPE beyla_instrumented_processes gauge',
  `beyla_instrumented_processes{process_name="api"} ${v.gauge}`,
  '',
].join('\n');

const served = (text: string, offsets: Offsets): Map<string, number> => cumulativeValues(applyOffsets({ text, offsets, nowMs: NOW }).text);
const valueOf = (text: string, prefix: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : parseSampleLine(line)?.value;
};

test('a swap: every cumulative series continues from what the old instance served; gauges, quantiles and _created pass through', () => {
  const old = beyla({ bucket1: 90, bucketInf: 100, sum: 4, requests: 500, qsum: 10, qcount: 40, gauge: 3 });
  const next = beyla({ bucket1: 9, bucketInf: 10, sum: 0.5, requests: 50, qsum: 1, qcount: 4, gauge: 2 });
  const offsets = carryOffsets({ old, next, offsets: none, overlapped: true, nowMs: NOW });
  // Later the new instance has seen 5 more requests (4 fast), 1 more rpc.
  const later = beyla({ bucket1: 13, bucketInf: 15, sum: 0.75, requests: 55, qsum: 1.5, qcount: 5, gauge: 2 });
  const text = applyOffsets({ text: later, offsets, nowMs: NOW }).text;
  const rows: Array<[string, number]> = [
    ['http_server_request_duration_seconds_bucket{http_route="/",le="0.1"}', 94],
    ['http_server_request_duration_seconds_bucket{http_route="/",le="+Inf"}', 105],
    ['http_server_request_duration_seconds_sum{http_route="/"}', 4.25],
    ['http_server_request_duration_seconds_count{http_route="/"}', 105],
    ['requests_total{service="api"}', 505],
    ['rpc_seconds_sum', 10.5],
    ['rpc_seconds_count', 41],
    ['http_server_request_duration_seconds_created{http_route="/"}', 1.7e9],
    ['rpc_seconds{quantile="0.5"}', 0.25],
    ['beyla_instrumented_processes{process_name="api"}', 2],
  ];
  for (const [prefix, want] of rows) assert.equal(valueOf(text, prefix), want, prefix);
});

test('offsets carry over generations: three instances serve one unbroken count', () => {
  const counter = (n: number): string => `# TYPE requests_total counter\nrequests_total ${n}\n`;
  // gen1 counted 100 when gen2 (which had seen 30) took over.
  const o2 = carryOffsets({ old: counter(100), next: counter(30), offsets: none, overlapped: true, nowMs: NOW });
  assert.equal(served(counter(50), o2).get('requests_total{}'), 120);
  // gen2 raw 50 (served 120) when gen3 (which had seen 5) took over.
  const o3 = carryOffsets({ old: counter(50), next: counter(5), offsets: o2, overlapped: true, nowMs: NOW });
  assert.equal(o3.get('requests_total{}')?.offset, 115);
  assert.equal(served(counter(10), o3).get('requests_total{}'), 125);
});

test('a crash (no overlap): the new instance counted only new events, so the old total is added whole', () => {
  const counter = (n: number): string => `# TYPE requests_total counter\nrequests_total ${n}\n`;
  const offsets = carryOffsets({ old: counter(100), next: counter(3), offsets: none, overlapped: false, nowMs: NOW });
  assert.equal(served(counter(3), offsets).get('requests_total{}'), 103);
  assert.equal(served(counter(7), offsets).get('requests_total{}'), 107);
});

test('a series new in the candidate passes through; its overlap counts are genuine', () => {
  const old = '# TYPE requests_total counter\nrequests_total{route="/a"} 100\n';
  const next = '# TYPE requests_total counter\nrequests_total{route="/a"} 10\nrequests_total{route="/b"} 4\n';
  const offsets = carryOffsets({ old, next, offsets: none, overlapped: true, nowMs: NOW });
  assert.equal(offsets.has('requests_total{route="/b"}'), false);
  const out = served(next, offsets);
  assert.equal(out.get('requests_total{route="/a"}'), 100);
  assert.equal(out.get('requests_total{route="/b"}'), 4);
});

test('a series the new instance has not exported yet keeps the old total pending, then continues from it', () => {
  const old = '# TYPE requests_total counter\nrequests_total{route="/a"} 100\nrequests_total{route="/b"} 40\n';
  const next = '# TYPE requests_total counter\nrequests_total{route="/a"} 10\n';
  const offsets = carryOffsets({ old, next, offsets: none, overlapped: true, nowMs: NOW });
  assert.deepEqual(offsets.get('requests_total{route="/b"}'), { offset: 40, floor: 40, absentSinceMs: NOW });
  const first = applyOffsets({ text: next, offsets, nowMs: NOW + 1 });
  assert.equal(first.text.includes('route="/b"'), false, 'nothing is made up for a series the instance does not export');
  // It appears 3 requests later, then a swap follows while it is present: the offset is ordinary again.
  const appeared = `${next}requests_total{route="/b"} 3\n`;
  const second = applyOffsets({ text: appeared, offsets: first.offsets, nowMs: NOW + 2 });
  assert.equal(cumulativeValues(second.text).get('requests_total{route="/b"}'), 43);
  assert.equal(second.offsets.get('requests_total{route="/b"}')?.absentSinceMs, null);
});

test('pending offsets survive a swap where neither instance exports the series, and carry to the one that does', () => {
  const a = '# TYPE requests_total counter\nrequests_total{route="/a"} 1\n';
  const withB = `${a}requests_total{route="/b"} 40\n`;
  const o2 = carryOffsets({ old: withB, next: a, offsets: none, overlapped: true, nowMs: NOW });
  const o3 = carryOffsets({ old: a, next: `${a}requests_total{route="/b"} 2\n`, offsets: o2, overlapped: true, nowMs: NOW + 10 });
  assert.deepEqual(o3.get('requests_total{route="/b"}'), { offset: 40, floor: 40, absentSinceMs: null });
});

test('pending offsets expire after pendingTtlMs and are bounded by maxPending (the longest absent go first)', () => {
  const limits = { maxPending: 2, pendingTtlMs: 1000 };
  const old = '# TYPE c counter\nc{k="1"} 1\nc{k="2"} 2\nc{k="3"} 3\n';
  assert.equal(carryOffsets({ old: 'c 5\n', next: '', offsets: none, overlapped: true, nowMs: NOW }).size, 0, 'untyped samples get no offset');
  const three = new Map([
    ['c{k="1"}', { offset: 1, floor: 1, absentSinceMs: NOW - 300 }],
    ['c{k="2"}', { offset: 2, floor: 2, absentSinceMs: NOW - 200 }],
  ]);
  const kept = carryOffsets({ old: '# TYPE c counter\nc{k="3"} 3\n', next: '# TYPE c counter\n', offsets: three, overlapped: true, nowMs: NOW, limits });
  assert.deepEqual([...kept.keys()].sort(), ['c{k="2"}', 'c{k="3"}']);
  const expired = applyOffsets({ text: '# TYPE c counter\n', offsets: kept, nowMs: NOW + 1001, limits });
  assert.equal(expired.offsets.size, 0);
  assert.equal(carryOffsets({ old, next: '', offsets: none, overlapped: true, nowMs: NOW, limits }).size, 2);
});

test('label sets match whatever the order and escaping, and every other byte is served as it was', () => {
  const tricky = 'path="/a\\"b}, c",q="x\\\\y\\nz # not a comment"';
  const old = `# TYPE requests_total counter\nrequests_total{${tricky},svc="api"} 10 1700000000000\n`;
  const next = `# TYPE requests_total counter\nrequests_total{svc="api",${tricky}} 4 1700000001000\n`;
  const offsets = carryOffsets({ old, next, offsets: none, overlapped: true, nowMs: NOW });
  assert.equal(offsets.size, 1);
  const out = applyOffsets({ text: next, offsets, nowMs: NOW }).text;
  assert.equal(out, `# TYPE requests_total counter\nrequests_total{svc="api",${tricky}} 10 1700000001000\n`);
});

test('NaN and +Inf values are served as they are and give no offset', () => {
  const old = '# TYPE c counter\nc{a="nan"} NaN\nc{a="inf"} +Inf\nc{a="n"} 5\n';
  const next = '# TYPE c counter\nc{a="nan"} 1\nc{a="inf"} 2\nc{a="n"} NaN\n';
  const offsets = carryOffsets({ old, next, offsets: none, overlapped: true, nowMs: NOW });
  assert.equal(offsets.size, 0);
  const withOffset = new Map([['c{a="n"}', { offset: 3, floor: 3, absentSinceMs: null }]]);
  assert.equal(applyOffsets({ text: 'c{a="n"} NaN\n'.replace(/^/, '# TYPE c counter\n'), offsets: withOffset, nowMs: NOW }).text, '# TYPE c counter\nc{a="n"} NaN\n');
  assert.equal(applyOffsets({ text: '# TYPE c counter\nc{a="n"} +Inf\n', offsets: withOffset, nowMs: NOW }).text, '# TYPE c counter\nc{a="n"} +Inf\n');
});

test('OpenMetrics text: _total samples continue, exemplars, _created, # UNIT and # EOF are kept', () => {
  const om = (n: number, ex: string): string => [
    '# TYPE http_requests counter', '# UNIT http_requests requests', '# HELP http_requests Requests.',
    `http_requests_total{code="200"} ${n} # {trace_id="${ex}"} 1.0 1700000000.5`,
    'http_requests_created{code="200"} 1700000000.0', '# EOF', '',
  ].join('\n');
  const offsets = carryOffsets({ old: om(100, 'a'), next: om(10, 'b'), offsets: none, overlapped: true, nowMs: NOW });
  assert.equal(applyOffsets({ text: om(12, 'c'), offsets, nowMs: NOW }).text, om(12, 'c').replace(' 12 #', ' 102 #'));
});

test('float rounding never serves less than the old instance served at the swap (that would be a reset)', () => {
  const sum = (v: number): string => `# TYPE d histogram\nd_sum ${v}\n`;
  const offsets = carryOffsets({ old: sum(0.9), next: sum(0.2), offsets: none, overlapped: true, nowMs: NOW });
  assert.ok(0.2 + (offsets.get('d_sum{}')?.offset ?? 0) < 0.9, 'the case rounds down');
  assert.equal(served(sum(0.2), offsets).get('d_sum{}'), 0.9);
});

test('applyOffsets returns the same offsets when nothing changed, and the text untouched with no offsets', () => {
  const text = '# TYPE c counter\nc 5\n';
  const offsets = new Map([['c{}', { offset: 1, floor: 1, absentSinceMs: null }]]);
  assert.equal(applyOffsets({ text, offsets, nowMs: NOW }).offsets, offsets);
  assert.equal(applyOffsets({ text, offsets: none, nowMs: NOW }).text, text);
});

test('property: over random swaps on a shared event stream, the served count is monotonic and equals the true total', () => {
  fc.assert(fc.property(
    fc.array(fc.record({ events: fc.nat(50), swap: fc.boolean(), overlapEvents: fc.nat(20) }), { minLength: 1, maxLength: 40 }),
    (steps) => {
      let total = 0; // events since the first instance started
      let startedAt = 0; // total when the active instance started
      let offsets: Offsets = none;
      let last = 0;
      const text = (raw: number): string => `# TYPE r counter\nr ${raw}\n`;
      for (const step of steps) {
        if (step.swap) {
          const candidateStart = total;
          total += step.overlapEvents; // both instances observe these
          offsets = carryOffsets({ old: text(total - startedAt), next: text(total - candidateStart), offsets, overlapped: true, nowMs: NOW });
          startedAt = candidateStart;
        }
        total += step.events;
        const value = served(text(total - startedAt), offsets).get('r{}') ?? NaN;
        if (value < last || value !== total) return false;
        last = value;
      }
      return true;
    },
  ), { numRuns: 300 });
});
