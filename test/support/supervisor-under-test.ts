// A BeylaSupervisor for one test: its own runtime dir, a captured log, every state it emits; stopped, its Beylas reaped and its dir removed after the test.
import type { TestContext } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import client from 'prom-client';
import type { BeylaSettings } from '../../src/config/types.js';
import { BeylaSupervisor, type SupervisorStatus } from '../../src/beyla/supervisor.js';
import { captureLogger } from './capture-logger.js';
import { isAlive } from './daemon-harness.js';

export interface SupervisorUnderTest {
  sup: BeylaSupervisor;
  lines: Record<string, unknown>[];
  registry: client.Registry;
  states: SupervisorStatus[];
}

export async function startSupervisor(
  t: TestContext,
  opts: { prefix: string; settings: BeylaSettings; timing?: ConstructorParameters<typeof BeylaSupervisor>[0]['timing'] },
): Promise<SupervisorUnderTest> {
  const dir = await mkdtemp(join(tmpdir(), `${opts.prefix}-`));
  const { logger, lines } = captureLogger();
  const registry = new client.Registry();
  const sup = new BeylaSupervisor({
    settings: opts.settings, runtimeDir: join(dir, 'run'), logger, registry, excludePorts: [], ...(opts.timing ? { timing: opts.timing } : {}),
  });
  const states: SupervisorStatus[] = [];
  sup.on('state', (status) => states.push(status));
  t.after(async () => {
    await sup.stop();
    for (const pid of new Set(states.flatMap((s) => s.instances.map((i) => i.pid ?? 0)))) if (pid > 0 && isAlive(pid)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  return { sup, lines, registry, states };
}
