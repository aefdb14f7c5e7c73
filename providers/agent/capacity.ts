// What an agent says it offers cannot be checked from here, so it is judged: a claim a
// real host plausibly has counts as verified; one beyond that (a registration token
// holder announcing 1 TiB to attract every placement) is kept but marked unverified,
// and the scheduler places on it only when no verified agent fits. Pure.

import type { Resources } from '../../schemas/agent-protocol.ts';

/** The largest host Forge takes an agent's word for; a bigger one still works, ranked last. */
export const PLAUSIBLE_CAPACITY: Resources = { cpus: 192, memoryBytes: 512 * 1024 ** 3 };

export function capacityVerified(capacity: Resources, bounds: Resources = PLAUSIBLE_CAPACITY): boolean {
  return Number.isFinite(capacity.cpus) && Number.isFinite(capacity.memoryBytes)
    && capacity.cpus <= bounds.cpus && capacity.memoryBytes <= bounds.memoryBytes;
}
