// Hostnames are owned: a service's default `<name>.<domain>` and every entry of its
// `domains` belong to it alone, so a write claiming one that another service holds is
// refused (409, naming the owner) before anything is written. Decisions are pure; the
// check reads the store's claims inside the caller's transaction.

import { ForgeError } from '../errors/index.ts';
import type { Store } from '../store/index.ts';

export interface HostnameClaim {
  name: string;
  domains: readonly string[];
}

export interface HostnameConflict {
  hostname: string;
  claimant: string;
  owner: string;
}

export function hostnamesOf(claim: HostnameClaim, domain: string): string[] {
  return [...new Set([`${claim.name}.${domain}`, ...claim.domains].map((h) => h.toLowerCase()))];
}

/**
 * Conflicts of `candidates` (written together, in order) with `owners` (the services that keep
 * their hostnames) and with each other. A service never conflicts with itself.
 */
export function hostnameConflicts(candidates: readonly HostnameClaim[], owners: readonly HostnameClaim[], domain: string): HostnameConflict[] {
  const ownerOf = new Map<string, string>();
  for (const owner of owners) for (const host of hostnamesOf(owner, domain)) if (!ownerOf.has(host)) ownerOf.set(host, owner.name);
  const conflicts: HostnameConflict[] = [];
  for (const candidate of candidates) {
    const hosts = hostnamesOf(candidate, domain);
    for (const host of hosts) {
      const owner = ownerOf.get(host);
      if (owner !== undefined && owner !== candidate.name) conflicts.push({ hostname: host, claimant: candidate.name, owner });
    }
    for (const host of hosts) if (!ownerOf.has(host)) ownerOf.set(host, candidate.name);
  }
  return conflicts;
}

/**
 * Throws E_CONFLICT when a candidate claims a hostname of a live service that is not itself
 * being written. `releasing` names services that give theirs up in the same write (pruned).
 */
export function assertHostnamesFree(store: Store, domain: string, candidates: readonly HostnameClaim[], releasing: ReadonlySet<string> = new Set()): void {
  const writing = new Set(candidates.map((c) => c.name));
  const owners = store.services.hostnameClaims().filter((c) => !writing.has(c.name) && !releasing.has(c.name));
  const conflicts = hostnameConflicts(candidates, owners, domain);
  const first = conflicts[0];
  if (first === undefined) return;
  throw new ForgeError('E_CONFLICT', `hostname ${first.hostname} belongs to service ${first.owner}; service ${first.claimant} cannot claim it`, {
    details: conflicts,
  });
}
