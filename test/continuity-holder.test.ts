// ContinuityHolder: offsets follow the generation that wrote each scrape, through promotions, races, failures and crashes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ContinuityHolder } from '../src/metrics/continuity-holder.js';
import { cumulativeValues } from '../src/metrics/counter-continuity.js';
import { captureLogger } from './support/capture-logger.js';

const counter = (n: number): string => `# TYPE requests_total counter\nrequests_total ${n}\n`;
const valueOf = (text: string | null): number | undefined => cumulativeValues(text ?? '').get('requests_total{}');
const endpoint = (generation: number) => ({ generation, metricsUrl: `http://gen${generation}/metrics` });

/** A holder whose scrapes read `raw` (by URL); a missing URL fails like a refused connection. */
const holderWith = (raw: Map<string, string>, enabled = true): ContinuityHolder => new ContinuityHolder({
  enabled,
  logger: captureLogger().logger,
  fetchText: async (url) => {
    const text = raw.get(url);
    if (text === undefined) throw new Error(`GET ${url} refused`);
    return text;
  },
});

test('a promotion carries the offsets; a scrape of the old generation finishing later keeps the old offsets', async () => {
  const raw = new Map([['http://gen1/metrics', counter(100)], ['http://gen2/metrics', counter(30)]]);
  const holder = holderWith(raw);
  assert.equal(valueOf(holder.serve({ generation: 1, text: counter(90) })), 90);
  await holder.promote(endpoint(1), endpoint(2));
  assert.equal(valueOf(holder.serve({ generation: 2, text: counter(31) })), 101);
  assert.equal(valueOf(holder.serve({ generation: 1, text: counter(100) })), 100, 'a late scrape of the old one is served raw, as before');
  raw.set('http://gen2/metrics', counter(40)).set('http://gen3/metrics', counter(2));
  await holder.promote(endpoint(2), endpoint(3));
  assert.equal(valueOf(holder.serve({ generation: 3, text: counter(5) })), 113);
  assert.equal(valueOf(holder.serve({ generation: 2, text: counter(40) })), 110, 'the old one keeps its own offsets');
});

test('the new instance cannot be scraped at promotion: its first scrape finishes the carry', async () => {
  const raw = new Map([['http://gen1/metrics', counter(100)]]);
  const holder = holderWith(raw);
  holder.serve({ generation: 1, text: counter(99) });
  await holder.promote(endpoint(1), endpoint(2));
  assert.equal(valueOf(holder.serve({ generation: 2, text: counter(30) })), 100);
  assert.equal(valueOf(holder.serve({ generation: 2, text: counter(35) })), 105);
});

test('the old instance cannot be scraped at promotion (hung): it continues from its last scrape, counting all the new one saw', async () => {
  const raw = new Map([['http://gen2/metrics', counter(4)]]);
  const holder = holderWith(raw);
  holder.serve({ generation: 1, text: counter(70) });
  await holder.promote(endpoint(1), endpoint(2));
  assert.equal(valueOf(holder.serve({ generation: 2, text: counter(4) })), 74);
});

test('a generation that appears without a promotion (the old one crashed) continues from the last text served', () => {
  const holder = holderWith(new Map());
  holder.serve({ generation: 1, text: counter(50) });
  assert.equal(valueOf(holder.serve({ generation: 2, text: counter(3) })), 53);
  assert.equal(valueOf(holder.serve({ generation: 3, text: counter(1) })), 54);
});

test('agent.metrics.continuity false: raw values, no scrapes at promotion', async () => {
  const raw = new Map<string, string>();
  const holder = holderWith(raw, false);
  holder.serve({ generation: 1, text: counter(50) });
  await holder.promote(endpoint(1), endpoint(2));
  assert.equal(valueOf(holder.serve({ generation: 2, text: counter(3) })), 3);
  assert.equal(holder.serve(null), null);
});

test('a candidate told of but never promoted leaves the old offsets intact for the next promotion', async () => {
  const raw = new Map([['http://gen1/metrics', counter(100)], ['http://gen2/metrics', counter(30)]]);
  const holder = holderWith(raw);
  holder.serve({ generation: 1, text: counter(100) });
  await holder.promote(endpoint(1), endpoint(2)); // gen 2 then failed: gen 1 stays active
  assert.equal(valueOf(holder.serve({ generation: 1, text: counter(110) })), 110);
  raw.set('http://gen1/metrics', counter(120)).set('http://gen3/metrics', counter(5));
  await holder.promote(endpoint(1), endpoint(3));
  assert.equal(valueOf(holder.serve({ generation: 3, text: counter(6) })), 121);
});
