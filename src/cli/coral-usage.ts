// The --help texts of `coral` and `coral version`: one source for the commands and the manual page (src/cli/manual.ts).

export const CORAL_USAGE = `Usage: coral <command> [options]

Connect the services on this host to coral-agent, which health-checks them and keeps
Grafana Beyla's eBPF instrumentation on their ports.

Commands:
  connect NAME:PORT[:HEALTH][:TYPE]   add or update a service (writes services.d/NAME.yaml)
  disconnect NAME                     remove a service added with connect
  services, ls                        list services: ports, source, health, instrumented
  status                              the agent's and Beyla's state, last swap, rejected files
  version                             print the version

Every command takes --config PATH (default: $CORAL_CONFIG, else /etc/coral/coral.yaml; the
services directory and the control socket follow from it) and --help.

Exit codes (sysexits): 0 ok, 64 usage, 65 invalid service, conflict or configuration,
66 no coral.yaml, 69 coral-agent not running (where it matters) or Beyla unavailable,
70 Beyla failed, 73 cannot create a file, 75 temporary (lock busy, timed out), 77 permission
denied (run as root or as a member of group coral).`;

export const CORAL_VERSION_USAGE = `Usage: coral version

Print the version of coral (also: coral --version).

Exit codes: 0 printed, 64 usage.`;
