// The supervisor's status: the lifecycle state plus what the driver knows of each process (pid, ports, config file).
import { publicState } from '../lifecycle/step.js';
import { activeOf, candidateOf } from '../lifecycle/transitions.js';
import type { LifecycleState } from '../lifecycle/types.js';
import type { BeylaProcess } from './beyla-process.js';
import type { InstanceStatus, SupervisorStatus } from './supervisor-types.js';

const PROMOTED_AT_DEADLINE = /^Beyla generation (\d+) promoted without instrumenting: (.*)$/s;

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
  // The first instance, promoted at the readiness deadline without every listener (probe-readiness.ts words it).
  const deadline = active && m.reason ? PROMOTED_AT_DEADLINE.exec(m.reason) : null;
  const promotedAtDeadline = deadline && Number(deadline[1]) === active?.generation
    ? { generation: active.generation, missing: (deadline[2] ?? '').split('; ').filter(Boolean) }
    : undefined;
  return {
    state: publicState(m),
    generation: active?.generation ?? 0,
    binary,
    ...(m.reason === null ? {} : { reason: m.reason }),
    instances,
    ...(m.lastSwap ? { lastSwap: { ...m.lastSwap } } : {}),
    ...(promotedAtDeadline ? { promotedAtDeadline } : {}),
    consecutiveCrashes: m.crashes.consecutive,
    circuitOpen: m.crashes.circuitOpen,
    portsString: active?.target.portsString ?? '',
  };
}
