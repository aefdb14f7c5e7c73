// Region is fixed at create (the seed: "region cannot be changed in place"): a
// Fly machine cannot move, and a remote service keeps the region it was made in.
// Writes refuse a region change before anything is written, so the record never
// says one region while the instances run in another.

import { ForgeError } from '../errors/index.ts';
import type { ServiceSpec } from '../specs/types.ts';

const norm = (region: string) => region.trim().toLowerCase();

/** Throws E_REGION_IMMUTABLE (400, terminal) when `next` moves an existing service to another region. */
export function refuseRegionChange(existing: ServiceSpec | null | undefined, next: ServiceSpec): void {
  if (!existing || norm(existing.region) === norm(next.region)) return;
  throw new ForgeError('E_REGION_IMMUTABLE',
    `service ${next.name} runs in ${existing.region}; its region cannot change in place to ${next.region}. ` +
    `Delete the service (forge delete ${next.name}) and deploy it again to move it.`,
    { details: [{ path: 'region', message: `cannot change from ${existing.region} to ${next.region}` }], terminal: true });
}
