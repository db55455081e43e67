// The first instance promoted at the readiness deadline: its log record and status carry a reason code and the processes missed, not only words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeStatus } from '../src/beyla/describe-status.js';
import type { Effect, LifecycleEvent, PromotedAtDeadline } from '../src/lifecycle/types.js';
import { AT, desired, drive, run } from './support/lifecycle-fixtures.js';

const MISSING = ['web pid 4121 port 8080 not instrumented after 10 s', 'api pid 4122 port 8081 not instrumented after 10 s'];
const WARNING: PromotedAtDeadline = {
  code: 'promoted_at_deadline',
  generation: 1,
  missing: MISSING,
  message: `Beyla generation 1 promoted without instrumenting: ${MISSING.join('; ')}`,
};
const START: LifecycleEvent[] = [desired(run('K1'), [1]), { type: 'spawned', at: AT + 1, generation: 1, pid: 101 }];
const logs = (effects: Effect[]): Array<Extract<Effect, { type: 'log' }>> => effects.filter((e): e is Extract<Effect, { type: 'log' }> => e.type === 'log');

test('the warning is logged with reason_code and the missing processes, in the same words as before', () => {
  const { state, effects } = drive([...START, { type: 'ready', at: AT + 2, generation: 1, warning: WARNING }]);
  const warned = logs(effects).filter((l) => l.fields.reason_code === 'promoted_at_deadline');
  assert.equal(warned.length, 1);
  assert.equal(warned[0]?.level, 'warn');
  assert.deepEqual(warned[0]?.fields, { generation: 1, reason_code: 'promoted_at_deadline', missing: MISSING });
  assert.equal(warned[0]?.msg, WARNING.message);
  const status = describeStatus(state, new Map(), '/usr/bin/beyla');
  assert.equal(status.state, 'ready');
  assert.deepEqual(status.promotedAtDeadline, { generation: 1, missing: MISSING });
  assert.equal(status.reason, WARNING.message, 'the status keeps the human wording as its reason');
});

test('a reason in the same words that is not the warning does not count as a promotion at the deadline', () => {
  const ready = drive([...START, { type: 'ready', at: AT + 2, generation: 1 }]).state;
  // An invalid desired state keeps the active instance; its message becomes the reason, whatever it says.
  const { state } = drive([desired({ kind: 'invalid', message: WARNING.message }, [2], AT + 3)], ready);
  const status = describeStatus(state, new Map(), '/usr/bin/beyla');
  assert.equal(status.reason, WARNING.message);
  assert.equal(status.promotedAtDeadline, undefined);
});

test('the warning goes once another reason replaces it', () => {
  const warned = drive([...START, { type: 'ready', at: AT + 2, generation: 1, warning: WARNING }]).state;
  const { state } = drive([desired({ kind: 'invalid', message: 'coral.yaml:3:5: agent.beyla.debounce: not a duration' }, [2], AT + 3)], warned);
  const status = describeStatus(state, new Map(), '/usr/bin/beyla');
  assert.equal(status.promotedAtDeadline, undefined);
  assert.equal(status.reason, 'coral.yaml:3:5: agent.beyla.debounce: not a duration');
});
