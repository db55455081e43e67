// An apply that needs no process (Beyla disabled, or no services) is answered at once, not left waiting for an event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import client from 'prom-client';
import { BeylaSupervisor } from '../src/beyla/supervisor.js';
import { createLogger } from '../src/log.js';
import { settings } from './support/supervisor-fixtures.js';

for (const [name, overrides, expected] of [
  ['Beyla disabled', { enabled: false }, 'disabled'],
  ['no services (when_empty: stop)', {}, 'unchanged'],
] as const) {
  test(`${name}: apply resolves with "${expected}" without any later event`, { timeout: 10_000 }, async (t) => {
    const runtimeDir = await mkdtemp(join(tmpdir(), 'coral-idle-'));
    t.after(() => rm(runtimeDir, { recursive: true, force: true }));
    const sup = new BeylaSupervisor({
      settings: settings(overrides), runtimeDir, logger: createLogger({ level: 'silent', env: {} }),
      registry: new client.Registry(), excludePorts: [], env: { PATH: process.env.PATH ?? '' },
    });
    t.after(() => sup.stop());
    const outcome = await sup.apply({ services: [], ports: [], selectors: [] });
    assert.equal(outcome.result, expected);
  });
}
