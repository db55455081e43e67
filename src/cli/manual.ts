// The manual pages coral(1) and coral-agent(8): each command's --help text, plus the sections only a manual has (scripts/build-man.mjs renders them).
import { RUN_USAGE } from '../daemon/run-command.js';
import { CHECK_USAGE } from './check.js';
import { CONFIG_SHOW_USAGE } from './config-show.js';
import { AGENT_USAGE, AGENT_VERSION_USAGE } from './coral-agent-usage.js';
import { CONNECT_USAGE } from './coral-connect.js';
import { DISCONNECT_USAGE } from './coral-disconnect.js';
import { SERVICES_USAGE } from './coral-services.js';
import { STATUS_USAGE } from './coral-status.js';
import { CORAL_USAGE, CORAL_VERSION_USAGE } from './coral-usage.js';
import { DOCTOR_USAGE } from './doctor.js';
import { RELOAD_USAGE } from './reload.js';

export interface ManualCommand {
  /** As typed after the program name: "connect", "config show". */
  name: string;
  /** Exactly what `PROGRAM NAME --help` prints. */
  usage: string;
}

export interface ManualSection {
  title: string;
  /** Paragraphs; a paragraph whose lines start "TERM  text" becomes a list, as in --help. */
  text: string;
}

export interface Manual {
  program: string;
  section: 1 | 8;
  /** The NAME line: "coral \- what it is" (without the program). */
  summary: string;
  /** What `PROGRAM --help` prints. */
  usage: string;
  commands: ManualCommand[];
  /** After the commands: files, environment, permissions. */
  sections: ManualSection[];
  seeAlso: string[];
}

const FILES = `/etc/coral/coral.yaml            the main configuration (a dpkg conffile)
/etc/coral/services.d/           service drop-ins, one file each, writable by group coral
/run/coral-agent/control.sock    the agent's control socket, used by coral
/var/lib/coral-agent/last-good.json    the last good configuration, for a start on an invalid coral.yaml
/usr/share/doc/coral-agent/configuration.md    every setting, the drop-in format, the log`;

export const MANUALS: Manual[] = [
  {
    program: 'coral',
    section: 1,
    summary: 'connect services to coral-agent and query it',
    usage: CORAL_USAGE,
    commands: [
      { name: 'connect', usage: CONNECT_USAGE },
      { name: 'disconnect', usage: DISCONNECT_USAGE },
      { name: 'services', usage: SERVICES_USAGE },
      { name: 'status', usage: STATUS_USAGE },
      { name: 'version', usage: CORAL_VERSION_USAGE },
    ],
    sections: [
      { title: 'PERMISSIONS', text: 'Root and members of group coral may use coral; anyone else is refused (exit 77). An administrator grants access with usermod -aG coral USER.' },
      { title: 'ENVIRONMENT', text: 'CORAL_CONFIG    the main file when --config is not given\nCORAL_*         the settings of coral.yaml (configuration.md lists them); a flag wins over its variable' },
      { title: 'FILES', text: FILES },
    ],
    seeAlso: ['coral-agent(8)', 'systemctl(1)', 'journalctl(1)'],
  },
  {
    program: 'coral-agent',
    section: 8,
    summary: "keep Grafana Beyla's eBPF instrumentation in step with local services",
    usage: AGENT_USAGE,
    commands: [
      { name: 'run', usage: RUN_USAGE },
      { name: 'reload', usage: RELOAD_USAGE },
      { name: 'check', usage: CHECK_USAGE },
      { name: 'config show', usage: CONFIG_SHOW_USAGE },
      { name: 'doctor', usage: DOCTOR_USAGE },
      { name: 'version', usage: AGENT_VERSION_USAGE },
    ],
    sections: [
      {
        title: 'SYSTEMD',
        text: `The package runs the daemon as coral-agent.service (Type=notify, with a watchdog): systemctl start returns once the agent is ready, systemctl status shows its state, systemctl reload runs coral-agent reload and fails on an invalid configuration while the agent keeps the last good one.

Under journald each log line is a human line with its syslog priority: journalctl -u coral-agent -p warning shows warnings and errors, journalctl -u coral-agent -g 'generation=6' finds a field, -o verbose shows every journal field. CORAL_LOG_FORMAT=json writes JSON lines instead.`,
      },
      { title: 'ENVIRONMENT', text: 'CORAL_CONFIG        the main file when --config is not given\nCORAL_LOG_FORMAT    json, text or auto (default): the log format of coral-agent run\nCORAL_*             the settings of coral.yaml (configuration.md lists them); a flag wins over its variable\nSTATE_DIRECTORY     where run keeps the last good configuration (set by systemd)' },
      { title: 'FILES', text: FILES },
    ],
    seeAlso: ['coral(1)', 'systemctl(1)', 'journalctl(1)', 'systemd.exec(5)'],
  },
];
