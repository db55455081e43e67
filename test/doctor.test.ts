// coral-agent doctor against fixture trees (a fake /proc, /sys and /boot) and once against this host.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { coralAgentPath } from './support/daemon-harness.js';
import { beylaDoublePath } from './beyla-double/beyla-double-path.js';

const SHIPPED_UNIT = fileURLToPath(new URL('../../systemd/coral-agent.service', import.meta.url));

interface Host {
  release?: string;
  btf?: boolean;
  config?: string;
  configAt?: 'proc' | 'boot';
  mounts?: string;
  kprobeEvents?: boolean;
  lockdown?: string;
  unit?: string;
}

const KPROBES_ON = 'CONFIG_BPF_SYSCALL=y\nCONFIG_KPROBES=y\nCONFIG_KPROBE_EVENTS=y\nCONFIG_DEBUG_INFO_BTF=y\n';
const KPROBES_OFF = 'CONFIG_BPF_SYSCALL=y\n# CONFIG_KPROBES is not set\nCONFIG_UPROBES=y\nCONFIG_DEBUG_INFO_BTF=y\n';
const MOUNTS = 'proc /proc proc rw 0 0\ntracefs /sys/kernel/tracing tracefs rw 0 0\nbpf /sys/fs/bpf bpf rw 0 0\n';

async function fixture(t: TestContext, host: Host): Promise<{ root: string; args: string[] }> {
  const root = await mkdtemp(join(tmpdir(), 'coral-doctor-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const put = async (path: string, body: string | Buffer): Promise<void> => {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), body);
  };
  const release = host.release ?? '6.1.0-18-amd64';
  await put('proc/sys/kernel/osrelease', `${release}\n`);
  await put('proc/sys/kernel/unprivileged_bpf_disabled', '2\n');
  await put('proc/sys/kernel/perf_event_paranoid', '3\n');
  await put('proc/self/limits', 'Max locked memory         8388608              8388608              bytes\n');
  await put('proc/mounts', host.mounts ?? MOUNTS);
  if (host.btf ?? true) await put('sys/kernel/btf/vmlinux', 'btf');
  const config = host.config ?? KPROBES_ON;
  if (host.configAt === 'boot') await put(`boot/config-${release}`, config);
  else await put('proc/config.gz', gzipSync(config));
  if (host.kprobeEvents ?? true) await put('sys/kernel/tracing/kprobe_events', '');
  await put('sys/kernel/security/lockdown', host.lockdown ?? '[none] integrity confidentiality\n');
  const unit = join(root, 'coral-agent.service');
  await writeFile(unit, host.unit ?? await readFile(SHIPPED_UNIT, 'utf8'));
  const conf = join(root, 'coral.yaml');
  await writeFile(conf, `agent:\n  runtime_dir: ${join(root, 'run')}\n  services_dir: ${join(root, 'services.d')}\n  control:\n    socket: ${join(root, 'ctl.sock')}\n  beyla:\n    binary: ${beylaDoublePath()}\n`);
  await mkdir(join(root, 'services.d'));
  return { root, args: ['--root', root, '--unit', unit, '--config', conf] };
}

interface Outcome { code: number; stdout: string; json: { exitCode: number; verdict: string; checks: { id: string; status: string; message: string; hint?: string }[] } }

function doctor(args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    // timeout: a hung doctor is SIGKILLed, so the callback still comes and nothing outlives the test.
    execFile(process.execPath, [coralAgentPath(), 'doctor', '--json', ...args], { env: { PATH: process.env.PATH ?? '' }, timeout: 60_000, killSignal: 'SIGKILL' }, (error, stdout) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, json: JSON.parse(stdout) as Outcome['json'] });
    });
  });
}

const status = (o: Outcome, id: string) => o.json.checks.find((c) => c.id === id);

describe('coral-agent doctor on fixture hosts', () => {
  test('a host Beyla can work on: every host check ok, exit 0', async (t) => {
    const { args } = await fixture(t, {});
    const o = await doctor(args);
    assert.equal(o.code, 0, o.stdout);
    assert.deepEqual(o.json.checks.filter((c) => c.status === 'fail'), []);
    for (const id of ['kernel', 'btf', 'kprobes', 'tracefs', 'bpffs', 'capabilities', 'lockdown', 'memlock', 'beyla', 'config']) assert.equal(status(o, id)?.status, 'ok', id);
    assert.match(status(o, 'beyla')?.message ?? '', /Beyla v3\.31\.0$/);
    assert.equal(status(o, 'agent')?.status, 'warn', 'the agent is not running: a warning, not a failure');
    assert.equal(o.json.verdict, 'Beyla can work on this host');
  });

  test('a kernel without kprobes (ours): kprobes FAIL, Beyla cannot discover processes, exit 69', async (t) => {
    const { args } = await fixture(t, { config: KPROBES_OFF, kprobeEvents: false, mounts: 'proc /proc proc rw 0 0\n' });
    const o = await doctor(args);
    assert.equal(o.code, 69);
    assert.match(status(o, 'kprobes')?.message ?? '', /^kprobes unavailable: CONFIG_KPROBES is not set \(\/proc\/config\.gz\): Beyla cannot discover processes here/);
    assert.equal(status(o, 'tracefs')?.status, 'fail');
    assert.match(o.json.verdict, /cannot discover processes here/);
  });

  test('the kernel config from /boot, a mounted tracefs without kprobe_events', async (t) => {
    const { args } = await fixture(t, { configAt: 'boot', kprobeEvents: false });
    const o = await doctor(args);
    assert.equal(o.code, 69);
    assert.match(status(o, 'kprobes')?.message ?? '', /CONFIG_KPROBES=y \(\/boot\/config-6\.1\.0-18-amd64\) but no kprobe_events/);
  });

  test('old kernels: 4.19 without BTF fails (memlock too), RHEL 8\'s 4.18 passes the version check', async (t) => {
    const old = await doctor((await fixture(t, { release: '4.19.0-26-amd64', btf: false, unit: '[Service]\nExecStart=/usr/bin/coral-agent run\n' })).args);
    assert.equal(old.code, 69);
    for (const id of ['kernel', 'btf', 'memlock']) assert.equal(status(old, id)?.status, 'fail', id);
    assert.match(status(old, 'capabilities')?.message ?? '', /CAP_SYS_RESOURCE|grants/);
    const rhel = await doctor((await fixture(t, { release: '4.18.0-553.el8_10.x86_64' })).args);
    assert.equal(status(rhel, 'kernel')?.status, 'ok');
  });

  test('the unit: a missing capability, ProtectKernelTunables, a non-root User', async (t) => {
    const shipped = await readFile(SHIPPED_UNIT, 'utf8');
    const noBpf = await doctor((await fixture(t, { unit: shipped.replace('CAP_BPF ', '') })).args);
    assert.equal(noBpf.code, 69);
    assert.match(status(noBpf, 'capabilities')?.message ?? '', /does not grant CAP_BPF$/);
    const tunables = await doctor((await fixture(t, { unit: `${shipped}\n[Service]\nProtectKernelTunables=yes\n` })).args);
    assert.match(status(tunables, 'tracefs')?.message ?? '', /ProtectKernelTunables=yes/);
    const user = await doctor((await fixture(t, { unit: `${shipped}\n[Service]\nUser=coral\n` })).args);
    assert.match(status(user, 'capabilities')?.message ?? '', /runs as coral without AmbientCapabilities/);
  });

  test('kernel lockdown: integrity warns, confidentiality fails', async (t) => {
    const integrity = await doctor((await fixture(t, { lockdown: 'none [integrity] confidentiality\n' })).args);
    assert.equal(integrity.code, 0);
    assert.equal(status(integrity, 'lockdown')?.status, 'warn');
    const confidentiality = await doctor((await fixture(t, { lockdown: 'none integrity [confidentiality]\n' })).args);
    assert.equal(confidentiality.code, 69);
    assert.equal(status(confidentiality, 'lockdown')?.status, 'fail');
  });

  test('an invalid configuration exits 78, a missing Beyla binary 69', async (t) => {
    const { root, args } = await fixture(t, {});
    await writeFile(join(root, 'services.d', 'web.yaml'), 'name: web\nport: 99999\n');
    const invalid = await doctor(args);
    assert.equal(invalid.code, 78);
    assert.match(status(invalid, 'config')?.message ?? '', /web\.yaml:2:7/);
    await rm(join(root, 'services.d', 'web.yaml'));
    const missing = await doctor([...args, '--beyla-binary', '/nonexistent/beyla']);
    assert.equal(missing.code, 69);
    assert.equal(status(missing, 'beyla')?.status, 'fail');
  });
});

test('coral-agent doctor on this host agrees with its kernel config', async (t) => {
  if (!existsSync('/proc/config.gz')) {
    t.skip('this host has no /proc/config.gz to compare with');
    return;
  }
  const kprobes = !/^# CONFIG_KPROBES is not set$/m.test(gunzipSync(readFileSync('/proc/config.gz')).toString('utf8'));
  const { args } = await fixture(t, {});
  const o = await doctor(args.slice(2)); // this host's /proc, /sys and /boot; the fixture's unit and config
  assert.equal(status(o, 'kprobes')?.status === 'fail', !kprobes, JSON.stringify(status(o, 'kprobes')));
  if (!kprobes) {
    assert.match(status(o, 'kprobes')?.message ?? '', /Beyla cannot discover processes here/);
    assert.equal(o.code, 69);
  }
  t.diagnostic(`this host: kprobes ${kprobes ? 'available' : 'unavailable'}; ${o.json.verdict}`);
});

test('coral status points at coral-agent doctor when Beyla fails for a host reason, not for a config one', async () => {
  const { formatStatus } = await import('../src/cli/coral-status.js');
  const { readAgentStatus } = await import('../src/cli/coral-fetch-status.js');
  const host = formatStatus(readAgentStatus({ state: 'ready', beyla: { state: 'degraded', reason: 'Beyla generation 1 logged a fatal line: Unable to load eBPF watcher for process events: instrumenting function "sys_bind": setting kprobe: neither debugfs nor tracefs are mounted' } }));
  assert.ok(host.includes('  hint: Beyla cannot work on this host as it is: run coral-agent doctor'), host.join('\n'));
  const config = formatStatus(readAgentStatus({ state: 'ready', beyla: { state: 'degraded', reason: 'Beyla generation 1 logged a fatal line: wrong configuration: open_ports: invalid port number' } }));
  assert.ok(!config.some((l) => /doctor/.test(l)), config.join('\n'));
});
