// Pinning an image spec to a digest when it is written: the tag is resolved once,
// here, and the digest becomes the spec's `revision` (as a source folder's bundle
// digest does). So every replica runs the same bytes even when the tag moves in
// between, an apply after the tag moved is a change (a new generation and
// release), and a rollback re-applies the release's spec with its digest: the same
// bytes again, even if the tag has moved since. Only for providers that pull by
// digest on Forge's behalf (capability `pinsImages`: Forge's agents); Fly and cloud
// resolve tags themselves. Failures name the image and the cause and write nothing.

import path from 'node:path';
import { ForgeError } from '../errors/index.ts';
import { parseImageReference } from '../specs/image-ref.ts';
import { specHash } from '../specs/hash.ts';
import type { ServiceSpec } from '../specs/types.ts';
import type { Cipher } from '../store/cipher.ts';
import type { Store } from '../store/index.ts';
import { resolveDigest } from '../agent/image/skopeo.ts';
import type { ApiContext } from './context.ts';
import { openRegistry } from './registries.ts';

export type ImagePinner = (image: string) => Promise<string>;

/** Resolves a tag with skopeo (credentials of its registry from the store, through a 0600 auth file). */
export function createImagePinner(store: Store, cipher: Cipher, dataDir: string): ImagePinner {
  return async (image) => {
    const ref = parseImageReference(image);
    if (ref === undefined) throw new ForgeError('E_SPEC_INVALID', `${image} is not an image reference`);
    const credential = openRegistry(store, cipher, ref.host);
    return resolveDigest(ref, { privateDir: path.join(dataDir, 'registry-auth'), ...(credential ? { credential } : {}) });
  };
}

/** What pinning needs: the resolver and which providers pin (an ApiContext has both). */
export type PinDeps = Pick<ApiContext, 'pinImage' | 'providers'>;

/**
 * The spec with its image's digest as `revision`, when its provider pins images; else the
 * spec itself. The one function every write path calls (apply, the compute API's writes,
 * the GitHub webhook, `forge dev`), so no path leaves a tag for the agent to resolve.
 */
export async function pinImage(deps: PinDeps, spec: ServiceSpec): Promise<ServiceSpec> {
  if (spec.image === undefined || deps.pinImage === undefined || deps.providers[spec.provider]?.pinsImages !== true) return spec;
  const digest = await deps.pinImage(spec.image);
  return spec.revision === digest ? spec : { ...spec, revision: digest };
}

/** Each spec of a set pinned (in order, so the first failure names its image), its hash recomputed when it changed. */
export async function pinSpecs<T extends { spec: ServiceSpec; hash: string }>(deps: PinDeps, loaded: readonly T[]): Promise<T[]> {
  const out: T[] = [];
  for (const item of loaded) {
    const spec = await pinImage(deps, item.spec);
    out.push(spec === item.spec ? item : { ...item, spec, hash: specHash(spec) });
  }
  return out;
}
