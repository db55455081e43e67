// Table of what one attempt of a health check means for the next: the other loopback address, or the verdict and what it shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stepAttempt, type Attempt, type AttemptStep, type LoopbackHost } from '../src/health/step-attempt.js';

function failed(host: LoopbackHost, code: string | undefined, message: string): Attempt {
  const error: NodeJS.ErrnoException = new Error(message);
  if (code !== undefined) error.code = code;
  return { host, error };
}

const v4Refused = failed('127.0.0.1', 'ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:80');
const v6Refused = failed('::1', 'ECONNREFUSED', 'connect ECONNREFUSED ::1:80');

const rows: { name: string; first?: Attempt; latest: Attempt; step: AttemptStep }[] = [
  { name: 'success on 127.0.0.1', latest: { host: '127.0.0.1' }, step: { next: 'verdict', hosts: ['127.0.0.1'], answered: '127.0.0.1' } },
  { name: 'refused first: the other address', latest: v4Refused, step: { next: 'retry', host: '::1' } },
  { name: '::1 tried first and refused: 127.0.0.1', latest: v6Refused, step: { next: 'retry', host: '127.0.0.1' } },
  { name: '::1 first on a host without IPv6: 127.0.0.1', latest: failed('::1', 'EADDRNOTAVAIL', 'connect EADDRNOTAVAIL ::1:80'), step: { next: 'retry', host: '127.0.0.1' } },
  {
    name: 'a timeout is a failure, not a reason to try the other',
    latest: failed('127.0.0.1', undefined, 'no connection within 2000 ms'),
    step: { next: 'verdict', hosts: ['127.0.0.1'], failure: 'no connection within 2000 ms', answered: '127.0.0.1' },
  },
  {
    name: 'a bad answer is a failure where it came from',
    latest: failed('::1', undefined, 'HTTP 503'),
    step: { next: 'verdict', hosts: ['::1'], failure: 'HTTP 503', answered: '::1' },
  },
  {
    name: '127.0.0.1 out of local ports (EADDRNOTAVAIL) is not "nothing there"',
    latest: failed('127.0.0.1', 'EADDRNOTAVAIL', 'connect EADDRNOTAVAIL 127.0.0.1:80'),
    step: { next: 'verdict', hosts: ['127.0.0.1'], failure: 'connect EADDRNOTAVAIL 127.0.0.1:80', answered: '127.0.0.1' },
  },
  { name: 'refused, then success on ::1', first: v4Refused, latest: { host: '::1' }, step: { next: 'verdict', hosts: ['::1'], answered: '::1' } },
  {
    name: 'refused on both: both shown, 127.0.0.1 first, nothing learnt',
    first: v6Refused,
    latest: v4Refused,
    step: { next: 'verdict', hosts: ['127.0.0.1', '::1'], failure: 'connect ECONNREFUSED 127.0.0.1:80; connect ECONNREFUSED ::1:80' },
  },
  ...['EADDRNOTAVAIL', 'ENETUNREACH', 'EAFNOSUPPORT'].map((code) => ({
    name: `refused, then ${code} on ::1: as a host without IPv6 always reported`,
    first: v4Refused,
    latest: failed('::1', code, `connect ${code} ::1:80`),
    step: { next: 'verdict', hosts: ['127.0.0.1'], failure: 'connect ECONNREFUSED 127.0.0.1:80' } as AttemptStep,
  })),
  {
    name: 'refused, then a timeout on ::1: the timeout is the failure and ::1 is tried first next time',
    first: v4Refused,
    latest: failed('::1', undefined, 'no connection within 2000 ms'),
    step: { next: 'verdict', hosts: ['::1'], failure: 'no connection within 2000 ms', answered: '::1' },
  },
];

for (const row of rows) {
  test(row.name, () => {
    assert.deepEqual(stepAttempt(row.first, row.latest), row.step);
  });
}
