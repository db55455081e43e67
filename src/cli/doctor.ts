// `coral-agent doctor`: can Beyla work on this host? Kernel, BTF, kprobes, tracefs, capabilities..., the binary, the config, the agent.
import { findBeylaBinary } from '../beyla/find-beyla-binary.js';
import { readBeylaVersion } from '../beyla/beyla-version.js';
import { hostChecks, type CheckResult } from '../doctor/host-checks.js';
import { ephemeralPortsCheck } from '../doctor/port-range-check.js';
import type { Snapshot } from '../config/types.js';
import { readHostFacts } from '../doctor/host-facts.js';
import { CoralError, EXIT } from '../errors.js';
import { loadSnapshot } from '../store/load-snapshot.js';
import { CONFIG_OPTIONS, parse, SETTING_FLAGS, SETTING_FLAGS_HELP, settingFlags } from './args.js';
import { fetchAgentStatus } from './coral-fetch-status.js';
import type { Io } from './io.js';

export const DOCTOR_USAGE = `Usage: coral-agent doctor [--config PATH] [--json] [--root DIR] [--unit FILE]

Check whether Beyla can work on this host, like "nginx -t" for the machine: the kernel version
(5.8+, or RHEL 8's 4.18), BTF, kprobes (kernel config and tracefs), tracefs or debugfs mounted and
visible to the unit, bpffs, the capabilities the unit grants, kernel lockdown,
kernel.unprivileged_bpf_disabled, kernel.perf_event_paranoid, the memlock limit, the Beyla binary
and its version, the configuration, configured service ports the kernel may take as a connection's
source port (inside net.ipv4.ip_local_port_range, not reserved), and whether the agent answers on
its control socket.
One line per check: ok, warn or FAIL, with what to do.

Options:
  -c, --config PATH   main file (default: $CORAL_CONFIG, else /etc/coral/coral.yaml)
      --json          print the checks as JSON
      --root DIR      read /proc, /sys and /boot under DIR instead of / (a copy of another host's)
      --unit FILE     the unit file to judge (default: coral-agent.service under /etc/systemd/system,
                      /lib/systemd/system or /usr/lib/systemd/system)
  -h, --help          show this help

${SETTING_FLAGS_HELP}

Exit codes: 0 Beyla can work here, 69 it cannot (a check failed), 78 the configuration is invalid,
64 usage error.`;

async function configCheck(io: Io, configPath: string | undefined, flags: Record<string, string | undefined>): Promise<{ check: CheckResult; binary?: string; enabled: boolean; socket?: string; services?: Snapshot['services'] }> {
  try {
    const { snapshot, invalidFiles } = await loadSnapshot({ configPath, env: io.env, flags });
    const errors = snapshot.diagnostics.filter((d) => d.severity === 'error');
    const settings = snapshot.settings;
    const base = { binary: settings.beyla.binary, enabled: settings.beyla.enabled, socket: settings.control.socket, services: snapshot.services };
    if (errors.length > 0) {
      const first = errors[0];
      return { ...base, check: { id: 'config', title: 'configuration', status: 'fail', message: `${errors.length} error(s)${invalidFiles.length ? ` in ${invalidFiles.length} file(s)` : ''}, first ${first?.file}:${first?.line}:${first?.col}: ${first?.message}`, hint: 'run coral-agent check for every problem' } };
    }
    return { ...base, check: { id: 'config', title: 'configuration', status: 'ok', message: `${settings.configPath} and ${snapshot.files.length - 1} drop-in(s) valid, ${snapshot.services.length} service(s)` } };
  } catch (error) {
    if (!(error instanceof CoralError)) throw error;
    return { enabled: true, check: { id: 'config', title: 'configuration', status: 'fail', message: error.message, ...(error.hint ? { hint: error.hint } : {}) } };
  }
}

async function beylaCheck(io: Io, binary: string | undefined, enabled: boolean): Promise<CheckResult> {
  const title = 'Beyla binary';
  if (!enabled) return { id: 'beyla', title, status: 'warn', message: 'agent.beyla.enabled is false: the agent runs no Beyla' };
  try {
    const path = await findBeylaBinary(binary ?? 'beyla', io.env as NodeJS.ProcessEnv);
    try {
      const { version } = await readBeylaVersion(path, io.env as NodeJS.ProcessEnv);
      return { id: 'beyla', title, status: 'ok', message: `${path}, Beyla ${version}` };
    } catch (error) {
      return { id: 'beyla', title, status: 'warn', message: `${path}: cannot read its version: ${error instanceof Error ? error.message : String(error)}`, hint: 'is it Grafana Beyla?' };
    }
  } catch (error) {
    if (error instanceof CoralError && error.code === 'BEYLA_UNAVAILABLE') return { id: 'beyla', title, status: 'fail', message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
    throw error;
  }
}

async function agentCheck(socket: string | undefined): Promise<CheckResult> {
  const title = 'agent';
  if (!socket) return { id: 'agent', title, status: 'warn', message: 'no control socket (the configuration did not load)' };
  try {
    const status = await fetchAgentStatus({ socketPath: socket, timeoutMs: 2000 });
    return { id: 'agent', title, status: 'ok', message: `answering on ${socket}: ${status.state}, Beyla ${status.beyla.state}${status.beyla.reason ? ` (${status.beyla.reason.split('\n')[0]})` : ''}` };
  } catch (error) {
    return { id: 'agent', title, status: 'warn', message: `not answering on ${socket}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, hint: 'systemctl status coral-agent' };
  }
}

const LABEL: Record<CheckResult['status'], string> = { ok: 'ok', warn: 'warn', fail: 'FAIL' };

export async function doctor(args: string[], io: Io): Promise<number> {
  const options = { ...CONFIG_OPTIONS, ...SETTING_FLAGS, json: { type: 'boolean' }, root: { type: 'string' }, unit: { type: 'string' } } as const;
  const { values } = parse(args, options, DOCTOR_USAGE, { maxPositionals: 0 });
  if (values.help) {
    io.out(DOCTOR_USAGE);
    return EXIT.OK;
  }
  const facts = await readHostFacts((values.root as string | undefined) ?? '/', values.unit as string | undefined);
  const config = await configCheck(io, values.config as string | undefined, settingFlags(values));
  const checks = [
    ...hostChecks(facts), await beylaCheck(io, config.binary, config.enabled), config.check,
    ...(config.services ? [ephemeralPortsCheck(facts, config.services)] : []), await agentCheck(config.socket),
  ];
  const failed = checks.filter((c) => c.status === 'fail');
  const code = config.check.status === 'fail' ? EXIT.CONFIG : failed.length > 0 ? EXIT.UNAVAILABLE : EXIT.OK;
  const kprobesFailed = failed.some((c) => c.id === 'kprobes');
  const verdict = code === EXIT.OK ? 'Beyla can work on this host'
    : code === EXIT.CONFIG ? 'the configuration is invalid'
      : `Beyla cannot work on this host${kprobesFailed ? ': it cannot discover processes here' : ''} (${failed.length} check(s) failed)`;
  if (values.json) {
    io.out(JSON.stringify({ ok: code === EXIT.OK, exitCode: code, verdict, checks }, null, 2));
    return code;
  }
  const width = Math.max(...checks.map((c) => c.title.length));
  for (const c of checks) {
    io.out(`${LABEL[c.status].padEnd(4)}  ${c.title.padEnd(width)}  ${c.message}`);
    if (c.hint && c.status !== 'ok') io.out(`${' '.repeat(width + 8)}fix: ${c.hint}`);
  }
  io.out(verdict);
  return code;
}
