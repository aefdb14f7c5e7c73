// `forge dev`'s apply: load every spec under a path, stamp each source-mode spec
// with a digest of its source directory (so a saved file is a new release), and
// apply the set with prune under one `dev:<path>` source.

import { resolve } from 'node:path';
import { loadSpecs, formatProblem, specHash } from '../../specs/index.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import { applySet, type ApplyPlan } from '../../api/service-apply-set.ts';
import type { Store } from '../../store/index.ts';
import { sourceDigest } from './source-digest.ts';
import type { BundleStore } from '../../api/bundle-store.ts';
import { bundleSpecs } from '../../specs/bundle.ts';

export type DevApply =
  | { ok: true; plan: ApplyPlan; specs: ServiceSpec[] }
  | { ok: false; problems: string[] };

export function devSource(path: string, cwd: string): string {
  return `dev:${resolve(cwd, path)}`;
}

/** With `bundles`, each source folder is packed into the control plane's bundle store and its digest is the revision. */
/**
 * `pin`: the control plane's image pinning (api/image-pins.ts): an image tag becomes its digest
 * in the spec, as on every write path, so a rollback runs the bytes its release ran.
 */
export async function applyDirectory(store: Store, path: string, cwd: string, bundles?: BundleStore, pin?: (spec: ServiceSpec) => Promise<ServiceSpec>): Promise<DevApply> {
  const loaded = await loadSpecs([path], { cwd });
  if (!loaded.ok) return { ok: false, problems: loaded.problems.map(formatProblem) };
  const specs: ServiceSpec[] = [];
  try {
    // An editor's atomic save can remove a file between listing and reading it: that
    // apply is reported and the next change applies again.
    if (bundles) specs.push(...await bundleSpecs(loaded.specs.map(({ spec }) => spec), (bundle) => bundles.putPacked(bundle), { limitBytes: bundles.limitBytes }));
    else {
      for (const { spec } of loaded.specs) {
        specs.push(spec.sourceDir ? { ...spec, revision: await sourceDigest(spec.sourceDir) } : spec);
      }
    }
    const pinned = pin === undefined ? specs : await Promise.all(specs.map((spec) => pin(spec)));
    const plan = applySet(store, devSource(path, cwd), pinned.map((spec) => ({ spec, hash: specHash(spec) })), { prune: true });
    return { ok: true, plan, specs: pinned };
  } catch (error) {
    return { ok: false, problems: [(error as Error).message] };
  }
}
