// The Fly provider's picture of the world: Forge's machines by id, fed by its own
// writes and by org-wide listings. A listing that began before one of our writes
// must not undo it (the write is newer), so each write is stamped with the local
// time and listings carry the time they started.

import type { ServiceSpec } from '../../specs/types.ts';
import type { Observed, ObservedInstance } from '../types.ts';
import type { FlyCheckStatus, FlyMachine, FlyOrgMachine } from './api-types.ts';
import { instanceHealth, instanceState, readForgeMeta, type ForgeMachineMeta } from './config.ts';
import { flyAppUrl } from './names.ts';

export interface CachedMachine extends ForgeMachineMeta {
  id: string;
  app: string;
  region: string;
  /** Fly's state string (started, stopped, ...). */
  flyState: string;
  version: string;
  image: string;
  /** Fly's updated_at in ms; a listing never replaces a newer record. */
  updatedAt: number;
  checks?: FlyCheckStatus[];
  /** Local time the checks were read. */
  checkedAt?: number;
  /** Local time of our last write to this machine. */
  writtenAt?: number;
  /**
   * The spec we last wrote under `hash`, known only for machines this process
   * wrote or adopted. With it diff() can name changed fields and emit relabels;
   * without it (after a restart) a hash change is a full in-place update.
   */
  spec?: ServiceSpec;
}

export function fromMachine(app: string, m: FlyMachine | FlyOrgMachine, projectId: string): CachedMachine | undefined {
  const meta = readForgeMeta(m.config?.metadata, projectId);
  if (!meta) return undefined;
  // Checks reported before the machine started say nothing about the running version.
  const checks = 'checks' in m && m.state === 'started' ? m.checks : undefined;
  return {
    ...meta,
    id: m.id,
    app,
    region: m.region ?? '',
    flyState: m.state ?? 'created',
    version: m.version ?? ('instance_id' in m ? (m.instance_id ?? '') : ''),
    image: m.config?.image ?? '',
    updatedAt: m.updated_at ? Date.parse(m.updated_at) : 0,
    ...(checks ? { checks } : {}),
  };
}

export class MachineCache {
  private readonly byId = new Map<string, CachedMachine>();
  /** Machines we destroyed, with the local time, so an older listing cannot resurrect them. */
  private readonly tombstones = new Map<string, number>();
  /** Service key → Fly app known to exist. */
  private readonly apps = new Map<string, string>();

  constructor(private readonly now: () => number) {}

  write(m: CachedMachine): void {
    this.byId.set(m.id, { ...m, ...(m.checks ? { checkedAt: this.now() } : {}), writtenAt: this.now() });
    this.apps.set(m.key, m.app);
  }

  patch(id: string, fields: Partial<Pick<CachedMachine, 'flyState' | 'version' | 'hash' | 'generation' | 'spec'>>): void {
    const prev = this.byId.get(id);
    if (!prev) return;
    const { checks, checkedAt, ...rest } = prev;
    // A new state makes old check results meaningless.
    const keep = fields.flyState === undefined || fields.flyState === prev.flyState ? { ...(checks ? { checks } : {}), ...(checkedAt ? { checkedAt } : {}) } : {};
    this.byId.set(id, { ...rest, ...keep, ...fields, writtenAt: this.now() });
  }

  /** Check results read for a machine; not a write, so it does not shadow listings. */
  setChecks(id: string, checks: FlyCheckStatus[]): void {
    const prev = this.byId.get(id);
    if (prev) this.byId.set(id, { ...prev, checks, checkedAt: this.now() });
  }

  remove(id: string): void {
    this.byId.delete(id);
    this.tombstones.set(id, this.now());
  }

  rememberApp(key: string, app: string): void {
    this.apps.set(key, app);
  }

  forgetApp(key: string): void {
    for (const m of this.forKey(key)) this.remove(m.id);
    this.apps.delete(key);
  }

  get(id: string): CachedMachine | undefined {
    return this.byId.get(id);
  }

  forKey(key: string): CachedMachine[] {
    return [...this.byId.values()].filter((m) => m.key === key).sort((a, b) => a.replica - b.replica || a.id.localeCompare(b.id));
  }

  all(): CachedMachine[] {
    return [...this.byId.values()];
  }

  /** Applies one listed machine; `gone` means Fly lists it as destroyed. */
  private fromListing(m: CachedMachine, gone: boolean, listingStartedAt: number): void {
    const tomb = this.tombstones.get(m.id);
    if (tomb !== undefined && tomb >= listingStartedAt) return;
    const prev = this.byId.get(m.id);
    if (prev && (prev.writtenAt ?? 0) >= listingStartedAt) return;
    if (prev && prev.updatedAt > m.updatedAt) return;
    if (gone) {
      this.byId.delete(m.id);
      return;
    }
    // Org listings carry no checks: keep what we knew for the same version in the same state.
    const same = prev && prev.version === m.version && prev.flyState === m.flyState;
    // Nor specs: the one we wrote still describes the machine while its hash label is unchanged.
    const spec = prev?.spec && prev.hash === m.hash ? { spec: prev.spec } : {};
    this.byId.set(m.id, { ...m, ...spec, ...(same && prev.checks ? { checks: prev.checks, ...(prev.checkedAt ? { checkedAt: prev.checkedAt } : {}) } : {}) });
    this.apps.set(m.key, m.app);
  }

  /** A complete listing: anything not in it is gone, unless we wrote it after the listing began. */
  replaceAll(listed: { machine: CachedMachine; gone: boolean }[], listingStartedAt: number): void {
    const seen = new Set(listed.map((l) => l.machine.id));
    for (const [id, m] of this.byId) {
      if (!seen.has(id) && (m.writtenAt ?? 0) < listingStartedAt) this.byId.delete(id);
    }
    for (const l of listed) this.fromListing(l.machine, l.gone, listingStartedAt);
  }

  /** Changes since the last listing (destroyed machines included). */
  applyDelta(listed: { machine: CachedMachine; gone: boolean }[], listingStartedAt: number): void {
    for (const l of listed) this.fromListing(l.machine, l.gone, listingStartedAt);
  }

  observed(keys?: readonly string[]): Observed[] {
    const wanted = keys ? [...new Set(keys)] : [...new Set([...this.apps.keys(), ...[...this.byId.values()].map((m) => m.key)])].sort();
    return wanted.map((key) => {
      const instances = this.forKey(key).flatMap((m): ObservedInstance[] => {
        const state = instanceState(m.flyState);
        if (state === null) return [];
        return [
          {
            id: m.id,
            key,
            replica: m.replica,
            hash: m.hash,
            generation: m.generation,
            region: m.region,
            state,
            health: instanceHealth(state, m.checks),
            machineId: m.id,
            ...(m.spec ? { spec: m.spec } : {}),
          },
        ];
      });
      const app = this.apps.get(key);
      return { key, instances, ...(app ? { url: flyAppUrl(app) } : {}) };
    });
  }
}
