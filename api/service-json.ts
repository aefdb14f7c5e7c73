// The one JSON shape of a service (API, `forge get --json`, dashboard). Env keys
// only: values never leave the encrypted store through here.

import type { Observed, ObservedInstance } from '../providers/types.ts';
import type { Condition, DesiredRow, Phase, StatusRow } from '../store/types.ts';

export interface InstanceJson {
  id: string;
  agent?: string;
  machineId?: string;
  region: string;
  port: number;
  url: string | null;
  state: ObservedInstance['state'];
  health: ObservedInstance['health'];
}

export interface ServiceJson {
  id: string;
  name: string;
  provider: string;
  status: Phase;
  /**
   * Why the service is not what `status` alone suggests (`CrashLoopBackOff`, `ProviderError`):
   * the Ready condition's reason when it names trouble; null otherwise. Lists show it beside the status.
   */
  statusReason: string | null;
  generation: number;
  observedGeneration: number;
  url: string | null;
  conditions: Condition[];
  envKeys: string[];
  image: string | null;
  port: number;
  cpu: string;
  memory: number;
  region: string;
  replicas: number;
  source: string;
  desiredState: 'running' | 'stopped';
  instances: InstanceJson[];
  createdAt: string;
  updatedAt: string;
}

function instancePort(instance: ObservedInstance, fallback: number): number {
  const port = instance.address ? Number(instance.address.slice(instance.address.lastIndexOf(':') + 1)) : NaN;
  return Number.isInteger(port) && port > 0 ? port : fallback;
}

export function instanceJson(instance: ObservedInstance, servicePort: number): InstanceJson {
  const out: InstanceJson = {
    id: instance.id,
    region: instance.region,
    port: instancePort(instance, servicePort),
    url: instance.address ? `http://${instance.address}` : null,
    state: instance.state,
    health: instance.health,
  };
  if (instance.agent !== undefined) out.agent = instance.agent;
  if (instance.machineId !== undefined) out.machineId = instance.machineId;
  return out;
}

/** Ready reasons that name trouble the phase does not show (a crash-looping service is still `running`). */
const TROUBLE_REASONS: ReadonlySet<string> = new Set(['CrashLoopBackOff', 'ProviderError']);

function troubleReason(conditions: readonly Condition[]): string | null {
  const ready = conditions.find((c) => c.type === 'Ready');
  return ready && ready.status === 'False' && TROUBLE_REASONS.has(ready.reason) ? ready.reason : null;
}

/** `shared-2x` for Fly tiers, the count (`0.5`) for agent CPU shares. */
export function cpuText(spec: DesiredRow['spec']): string {
  const { cpus, cpuKind } = spec.resources;
  return Number.isInteger(cpus) && [1, 2, 4, 8, 16].includes(cpus) ? `${cpuKind}-${cpus}x` : String(cpus);
}

export function serviceJson(row: DesiredRow, status: StatusRow | null, envKeys: readonly string[], observed: Observed | undefined): ServiceJson {
  const spec = row.spec;
  return {
    id: row.id,
    name: row.name,
    provider: spec.provider,
    status: row.deleting ? 'destroying' : (status?.phase ?? 'pending'),
    statusReason: row.deleting ? null : troubleReason(status?.conditions ?? []),
    generation: row.generation,
    observedGeneration: status?.observedGeneration ?? 0,
    url: status?.url ?? observed?.url ?? null,
    conditions: status?.conditions ?? [],
    envKeys: [...envKeys],
    image: spec.image ?? null,
    port: spec.port,
    cpu: cpuText(spec),
    memory: spec.resources.memoryMb,
    region: spec.region,
    replicas: spec.replicas,
    source: row.source,
    desiredState: row.state,
    instances: (observed?.instances ?? []).slice().sort((a, b) => a.replica - b.replica).map((i) => instanceJson(i, spec.port)),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
