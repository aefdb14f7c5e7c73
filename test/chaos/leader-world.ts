// What the leader chaos test compares: the desired world (the last apply) against the store and
// what the agents report. Returns what still differs, as readable lines (empty: converged).

import type { InstanceReport } from '../../schemas/agent-protocol.ts';
import { changedFields } from '../../reconciler/spec-fields.ts';
import type { Store } from '../../store/index.ts';

export interface Want { replicas: number; rev: number }

export function converged(store: Store, desired: ReadonlyMap<string, Want>, gone: ReadonlySet<string>, instances: readonly InstanceReport[]): string[] {
  const out: string[] = [];
  for (const [name, want] of desired) {
    const row = store.services.get(name);
    if (!row || row.deleting) {
      out.push(`lost: ${name}`);
      continue;
    }
    if (row.spec.replicas !== want.replicas || row.spec.env.REV !== String(want.rev)) out.push(`stale spec: ${name}`);
    const live = instances.filter((i) => i.service === name && i.state === 'running' && i.health === 'healthy');
    // Current: the desired hash, or an older release whose spec differs only in replicas (a
    // scale keeps its instances and their old label).
    const current = live.filter((i) => {
      if (i.hash === row.hash) return true;
      const release = store.releases.get(name, i.generation);
      return release !== null && release.hash === i.hash && changedFields(release.spec, row.spec).length === 0;
    });
    if (current.length !== want.replicas || live.length !== current.length) {
      out.push(`${name}: ${current.length}/${want.replicas} healthy at the desired spec, ${live.length} live`);
    }
    const slots = new Set(current.map((i) => i.replica));
    if (slots.size !== current.length) out.push(`${name}: one replica slot runs twice`);
    const phase = store.status.get(name)?.phase;
    if (phase !== 'running') out.push(`${name}: ${phase}`);
  }
  for (const name of gone) {
    if (store.services.get(name)) out.push(`not deleted: ${name}`);
    if (instances.some((i) => i.service === name && i.state !== 'exited' && i.state !== 'stopped')) out.push(`instances left: ${name}`);
  }
  return out;
}
