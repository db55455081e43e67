// SharedScrape: concurrent scrapes share one fetch, a fresh text is reused for reuseMs within its generation only, a failure is never reused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SharedScrape, type FetchedScrape } from '../src/beyla/shared-scrape.js';

function counting(generation: number, fresh = true): { fetch: () => Promise<FetchedScrape>; calls: () => number; release: () => void } {
  let calls = 0;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolveGate) => { release = resolveGate; });
  return {
    fetch: async () => {
      calls += 1;
      await gate;
      return { result: { generation, text: `text ${calls}` }, fresh };
    },
    calls: () => calls,
    release: () => release(),
  };
}

test('scrapes during a fetch share it; a fresh text is reused until reuseMs has passed', async () => {
  let now = 0;
  const shared = new SharedScrape({ reuseMs: 250, now: () => now });
  const source = counting(1);
  const waiting = Array.from({ length: 100 }, () => shared.get(1, source.fetch));
  source.release();
  const texts = await Promise.all(waiting);
  assert.equal(source.calls(), 1);
  assert.deepEqual(new Set(texts.map((r) => r?.text)), new Set(['text 1']));
  now = 249;
  assert.equal((await shared.get(1, source.fetch))?.text, 'text 1', 'reused within the window');
  now = 250;
  assert.equal((await shared.get(1, source.fetch))?.text, 'text 2', 'fetched again once the window is over');
  assert.equal(source.calls(), 2);
});

test('a text is never shared with another generation, and a failed fetch is not reused', async () => {
  const now = 0;
  const shared = new SharedScrape({ reuseMs: 1000, now: () => now });
  const one = counting(1);
  one.release();
  await shared.get(1, one.fetch);
  const two = counting(2);
  two.release();
  assert.equal((await shared.get(2, two.fetch))?.generation, 2, 'a promotion is seen by the next scrape');
  assert.equal(two.calls(), 1);

  const failing = counting(3, false);
  failing.release();
  await shared.get(3, failing.fetch);
  await shared.get(3, failing.fetch);
  assert.equal(failing.calls(), 2, 'a fallback text (fetch failed) is asked for again');
  shared.clear();
  await shared.get(2, two.fetch);
  assert.equal(two.calls(), 2, 'clear() forgets the reused text');
});
