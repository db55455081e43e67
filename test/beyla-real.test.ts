// Against a real `beyla` binary (BEYLA_BIN or on PATH), through the running agent: what is true on this kernel, with or without kprobes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { CoralError } from '../src/errors.js';
import { findBeylaBinary } from '../src/beyla/find-beyla-binary.js';
import { hostChecks } from '../src/doctor/host-checks.js';
import { readHostFacts } from '../src/doctor/host-facts.js';
import { createDaemonHarness, isAlive, waitUntil } from './support/daemon-harness.js';

const CORAL = fileURLToPath(new URL('../src/cli/coral.js', import.meta.url));

async function realBeyla(): Promise<string | undefined> {
  try {
    return await findBeylaBinary(process.env.BEYLA_BIN ?? 'beyla');
  } catch (error) {
    if (error instanceof CoralError && error.code === 'BEYLA_UNAVAILABLE') return undefined;
    throw error;
  }
}

function coralStatus(configPath: string): Promise<string> {
  return new Promise((resolve) => {
    // timeout: a hung coral status is SIGKILLed, so the callback still comes and nothing outlives the test.
    execFile(process.execPath, [CORAL, 'status', '--config', configPath], { env: { PATH: process.env.PATH ?? '' }, timeout: 60_000, killSignal: 'SIGKILL' }, (_error, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
}

test('a real Beyla under the agent: config accepted; instruments where the kernel can, else degraded with Beyla\'s reason; nothing left after stop', { timeout: 240_000 }, async (t) => {
  const binary = await realBeyla();
  if (!binary) {
    t.skip('no beyla binary: set BEYLA_BIN or put beyla on PATH');
    return;
  }
  if (process.getuid?.() !== 0) {
    t.skip(`beyla found at ${binary}, but it needs root or CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN...: run this test as root`);
    return;
  }
  const kprobes = hostChecks(await readHostFacts('/')).find((c) => c.id === 'kprobes');
  const canInstrument = kprobes?.status === 'ok';
  t.diagnostic(`kernel: ${kprobes?.status} ${kprobes?.message}`);

  const service = createServer(() => {});
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => service.close(() => resolve())));
  const port = (service.address() as { port: number }).port;

  const h = await createDaemonHarness(t, { dropIns: { 'probe.yaml': `name: probe\nport: ${port}\nhealth: none\n` } });
  const yaml = (await readFile(h.configPath, 'utf8'))
    .replace(/^ {4}binary: .*$/m, `    binary: ${binary}`)
    // Beyla may spend up to ~30 s asking cloud metadata services before its endpoints come up.
    .replace(/^ {6}timeout: 10s$/m, `      timeout: 90s\n      require_instrumented: ${canInstrument}`)
    .replace(/^ {4}shutdown_timeout: 2s$/m, '    shutdown_timeout: 10s\n    env: { AWS_EC2_METADATA_DISABLED: "true", GCE_METADATA_HOST: "127.0.0.1:1" }');
  await writeFile(h.configPath, yaml);
  await h.start(120_000);

  const beylaPids = (): number[] => [...new Set(h.logs.map((r) => Number(r.instance_pid)).filter((pid) => pid > 0))];
  const wrong = () => h.logs.filter((r) => r.component === 'beyla' && /wrong (Beyla )?configuration/.test(r.msg));
  if (canInstrument) {
    const status = await waitUntil('Beyla ready', async () => {
      const s = await h.status();
      return s.beyla?.state === 'ready' ? s : undefined;
    }, 120_000);
    assert.ok(h.logs.some((r) => r.msg === 'instrumenting process' && Number(r.beyla_pid ?? r.pid) === process.pid), 'Beyla instrumented the listener');
    t.diagnostic(`ready: generation ${status.beyla.generation}`);
  } else {
    // No kprobes: Beyla accepts the config, then cannot watch processes. The agent stays up, degraded, with Beyla's words.
    const status = await waitUntil('Beyla\'s own reason in the status', async () => {
      const s = await h.status();
      const reason = `${s.beyla?.reason ?? ''} ${s.beyla?.lastSwap?.error ?? ''}`;
      return /Unable to load eBPF watcher/.test(reason) ? s : undefined;
    }, 150_000);
    assert.notEqual(status.beyla.state, 'ready');
    assert.ok(h.running, 'the agent did not crash');
    const text = await coralStatus(h.configPath);
    assert.match(text, /Unable to load eBPF watcher/);
    assert.match(text, /run coral-agent doctor/);
  }
  assert.deepEqual(wrong().map((r) => r.msg), [], 'Beyla accepted the rendered config');

  const seen = beylaPids();
  assert.ok(seen.length > 0, 'a Beyla process was started');
  await h.stop(60_000);
  for (const pid of seen) assert.equal(isAlive(pid), false, `Beyla pid ${pid} outlived the agent`);
});
