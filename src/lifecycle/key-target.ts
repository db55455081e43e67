// The comparison key of a desired state: its Beyla YAML with placeholder instance ports, the binary and the explicit env.
import { createHash } from 'node:crypto';
import type { BeylaSettings } from '../config/types.js';
import { renderBeylaConfig, type InstancePorts } from '../plan/render-beyla-config.js';
import type { DesiredState } from '../plan/types.js';
import type { Target } from './types.js';

const PLACEHOLDER_PORTS: InstancePorts = { metrics: 1, health: 2, internal: 3 };

/** The target to run, or null when there is nothing to run (no services, when_empty: stop). Equal keys: no restart. */
export function keyTarget(opts: { seq: number; desired: DesiredState; settings: BeylaSettings; binary: string; excludePorts: readonly number[] }): Target | null {
  const rendered = renderBeylaConfig({ desired: opts.desired, settings: opts.settings, instancePorts: PLACEHOLDER_PORTS, excludePorts: [...opts.excludePorts] });
  if (!rendered) return null;
  const env = Object.entries(opts.settings.env).sort(([a], [b]) => a.localeCompare(b));
  const key = `${rendered.yaml}\n# binary=${opts.binary}\n# env=${JSON.stringify(env)}\n`;
  return {
    seq: opts.seq,
    desired: opts.desired,
    settings: opts.settings,
    binary: opts.binary,
    key,
    digest: createHash('sha256').update(key).digest('hex'),
    portsString: rendered.portsString,
    portsCount: rendered.portsCount,
  };
}
