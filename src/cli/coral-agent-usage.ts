// The --help texts of `coral-agent`, `coral-agent config` and `coral-agent version`: one source for the commands and the manual page (src/cli/manual.ts).
import { CONFIG_SHOW_USAGE } from './config-show.js';

export const AGENT_USAGE = `Usage: coral-agent <command> [options]

Keeps Grafana Beyla's eBPF instrumentation in step with the services on this host.

Commands:
  run             run the daemon (what systemd starts)
  reload          ask the running daemon to re-read its configuration and wait for the result
  check           validate coral.yaml and services.d, print problems as file:line:col
  config show     print the effective configuration (--sources: where each value comes from)
  doctor          check whether Beyla can work on this host (kernel, kprobes, capabilities...)
  version         print the version

Every command takes --config PATH (default: $CORAL_CONFIG, else /etc/coral/coral.yaml)
and --help. Exit codes follow sysexits: 0 ok, 64 usage, 65 invalid config, 66 no config,
69 agent or Beyla unavailable, 73 cannot create, 75 temporary failure, 78 configuration error (doctor).`;

export const AGENT_CONFIG_USAGE = `Usage: coral-agent config show [--config PATH] [--json] [--sources]

The configuration commands. There is one:
  show    print the effective configuration (--sources: where each value comes from)

${CONFIG_SHOW_USAGE.slice(CONFIG_SHOW_USAGE.indexOf('\n\n') + 2)}`;

export const AGENT_VERSION_USAGE = `Usage: coral-agent version

Print the version of coral-agent (also: coral-agent --version).

Exit codes: 0 printed, 64 usage.`;
