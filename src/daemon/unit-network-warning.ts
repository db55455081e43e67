// A warning when the systemd unit's IP firewall (IPAddressDeny=any) would drop remote peers of a non-loopback metrics.listen.
import type { Diagnostic } from '../config/types.js';
import { parseListen } from '../metrics/parse-listen.js';

const LOOPBACK = /^(?:127\.\d+\.\d+\.\d+|::1|localhost|\[::1\])$/;

/**
 * The unit says what its firewall is through its environment (CORAL_UNIT_IP_ADDRESS_DENY,
 * CORAL_UNIT_IP_ADDRESS_ALLOW, set next to IPAddressDeny= and IPAddressAllow=): the agent cannot
 * read a cgroup's BPF filter. Warns when every peer but loopback is denied and the stable scrape
 * address listens beyond loopback; a drop-in that allows peers sets CORAL_UNIT_IP_ADDRESS_ALLOW to them.
 */
export function unitNetworkWarning(env: NodeJS.ProcessEnv, listen: string, file: string): Diagnostic | undefined {
  if (env.CORAL_UNIT_IP_ADDRESS_DENY?.trim() !== 'any') return undefined;
  const allowed = (env.CORAL_UNIT_IP_ADDRESS_ALLOW ?? '').split(/\s+/).filter((a) => a !== '' && a !== 'localhost' && !LOOPBACK.test(a));
  if (allowed.length > 0) return undefined;
  const host = parseListen(listen).host ?? '';
  if (LOOPBACK.test(host)) return undefined;
  return {
    file, line: 0, col: 0, severity: 'warning', path: 'agent.metrics.listen',
    message: `agent.metrics.listen is ${listen}, but the systemd unit sets IPAddressDeny=any with only loopback allowed: remote scrapes (and OTLP to a remote collector) are dropped`,
    hint: 'allow the peers in a drop-in (systemctl edit coral-agent): IPAddressAllow=<scraper address> and Environment=CORAL_UNIT_IP_ADDRESS_ALLOW=<the same>',
  };
}
