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

/**
 * How long resolving one tag may take, and all the tags of one request together. Well under
 * the CLI's 30 s reply timeout (cli/client.ts): a registry that does not answer is reported
 * as E_REGISTRY_UNAVAILABLE naming the image, not as a timeout the CLI retries on every replica.
 */
export const PIN_IMAGE_TIMEOUT_MS = 10_000;
export const PIN_REQUEST_BUDGET_MS = 20_000;

/** `timeoutMs`: at most this long for this image (what is left of the request's budget). */
export type ImagePinner = (image: string, options?: { timeoutMs?: number }) => Promise<string>;

/** Resolves a tag with skopeo (credentials of its registry from the store, through a 0600 auth file). */
export function createImagePinner(store: Store, cipher: Cipher, dataDir: string, options: { timeoutMs?: number } = {}): ImagePinner {
  const perImage = options.timeoutMs ?? PIN_IMAGE_TIMEOUT_MS;
  return async (image, call = {}) => {
    const ref = parseImageReference(image);
    if (ref === undefined) throw new ForgeError('E_SPEC_INVALID', `${image} is not an image reference`);
    const credential = openRegistry(store, cipher, ref.host);
    return resolveDigest(ref, {
      privateDir: path.join(dataDir, 'registry-auth'), timeoutMs: Math.min(perImage, call.timeoutMs ?? perImage),
      ...(credential ? { credential } : {}),
    });
  };
}

/** What pinning needs: the resolver, which providers pin, and the request budget (an ApiContext has them). */
export type PinDeps = Pick<ApiContext, 'pinImage' | 'providers'> & Partial<Pick<ApiContext, 'pinBudgetMs'>>;

/** Whether `spec` runs where Forge pins image tags (capability `pinsImages`), whatever resolves them. */
export function pinsImages(deps: Pick<ApiContext, 'providers'>, spec: ServiceSpec): spec is ServiceSpec & { image: string } {
  return spec.image !== undefined && deps.providers[spec.provider]?.pinsImages === true;
}

/**
 * One request's resolver: each image gets at most PIN_IMAGE_TIMEOUT_MS and all of them
 * together the request budget; past either, E_REGISTRY_UNAVAILABLE naming the image. The
 * timer bounds any resolver; the skopeo one also stops its process at that time.
 */
export function pinSession(deps: PinDeps, now: () => number = Date.now): (image: string) => Promise<string> {
  const budget = deps.pinBudgetMs ?? PIN_REQUEST_BUDGET_MS;
  const deadline = now() + budget;
  return async (image) => {
    const pinner = deps.pinImage;
    if (pinner === undefined) throw new ForgeError('E_INTERNAL', 'image pinning is off');
    const left = deadline - now();
    const timeoutMs = Math.min(left, PIN_IMAGE_TIMEOUT_MS);
    if (timeoutMs <= 0) throw unanswered(image, budget, 'the images of this request');
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unanswered(image, timeoutMs, 'it')), timeoutMs);
    });
    try {
      return await Promise.race([pinner(image, { timeoutMs }), expired]);
    } finally {
      clearTimeout(timer);
    }
  };
}

function unanswered(image: string, ms: number, what: string): ForgeError {
  return new ForgeError('E_REGISTRY_UNAVAILABLE',
    `image ${image}: its registry did not answer in time (${Math.round(ms / 100) / 10} s for ${what}); nothing was written`, { details: { image } });
}

/**
 * The spec with its image's digest as `revision`, when its provider pins images; else the
 * spec itself. Every write path pins (apply, the compute API's writes, the GitHub webhook,
 * `forge dev`), so no path leaves a tag for the agent to resolve. `pin`: the request's
 * resolver, when it pins several specs.
 */
export async function pinImage(deps: PinDeps, spec: ServiceSpec, pin = pinSession(deps)): Promise<ServiceSpec> {
  if (!pinsImages(deps, spec) || deps.pinImage === undefined) return spec;
  const digest = await pin(spec.image);
  return spec.revision === digest ? spec : { ...spec, revision: digest };
}

/** Each spec of a set pinned (in order, so the first failure names its image) within one budget, its hash recomputed when it changed. */
export async function pinSpecs<T extends { spec: ServiceSpec; hash: string }>(deps: PinDeps, loaded: readonly T[]): Promise<T[]> {
  const pin = pinSession(deps);
  const out: T[] = [];
  for (const item of loaded) {
    const spec = await pinImage(deps, item.spec, pin);
    out.push(spec === item.spec ? item : { ...item, spec, hash: specHash(spec) });
  }
  return out;
}
