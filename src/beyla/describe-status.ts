// The supervisor's status: the lifecycle state plus what the driver knows of each process (pid, ports, config file).
import { publicState } from '../lifecycle/step.js';
import { activeOf, candidateOf } from '../lifecycle/transitions.js';
import type { LifecycleState } from '../lifecycle/types.js';
import type { BeylaProcess } from './beyla-process.js';
import type { InstanceStatus, SupervisorStatus } from './supervisor-types.js';

export function describeStatus(m: LifecycleState, processes: ReadonlyMap<number, BeylaProcess>, binary: string): SupervisorStatus {
  const active = activeOf(m);
  const candidate = candidateOf(m);
  const describe = (generation: number, role: InstanceStatus['role']): InstanceStatus[] => {
    const instance = processes.get(generation);
    if (!instance || (role !== 'active' && role !== 'candidate' && !instance.running)) return [];
    return [{ generation, pid: instance.pid ?? null, role, ports: { ...instance.ports }, startedAt: new Date(instance.startedAt).toISOString(), configFile: instance.configFile, ...(instance.version ? { version: instance.version } : {}), ...(instance.adopted ? { adopted: true } : {}) }];
  };
  const instances = [
    ...(active ? describe(active.generation, 'active') : []),
    ...(candidate && !candidate.exited ? describe(candidate.generation, 'candidate') : []),
    ...m.retiring.flatMap((r) => describe(r.generation, 'stopping')),
    ...m.survivors.flatMap((r) => describe(r.generation, 'survivor')),
  ];
  // The first instance, promoted at the readiness deadline without every listener: shown while it is still the active one.
  const warning = typeof m.reason === 'object' ? m.reason : null;
  const promotedAtDeadline = warning?.code === 'promoted_at_deadline' && warning.generation === active?.generation
    ? { generation: warning.generation, missing: [...warning.missing] }
    : undefined;
  const reason = typeof m.reason === 'object' && m.reason !== null ? m.reason.message : m.reason;
  return {
    state: publicState(m),
    generation: active?.generation ?? 0,
    binary,
    ...(reason === null ? {} : { reason }),
    instances,
    ...(m.lastSwap ? { lastSwap: { ...m.lastSwap } } : {}),
    ...(promotedAtDeadline ? { promotedAtDeadline } : {}),
    consecutiveCrashes: m.crashes.consecutive,
    circuitOpen: m.crashes.circuitOpen,
    portsString: active?.target.portsString ?? '',
  };
}
