// One image release on an agent: the digest to run (the release's pinned one, else
// the tag resolved now), a local copy of it (pulled once per digest), and its root
// unpacked into the instance's own directory.

import { chmod, rm } from 'node:fs/promises';
import path from 'node:path';
import { ForgeError } from '../../errors/index.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import type { SandboxIdentity } from '../sandbox/identity.ts';
import { isImageDigest, parseImageReference } from '../../specs/image-ref.ts';
import type { RegistryCredential } from './skopeo.ts';
import { layoutTag } from './skopeo.ts';
import type { ImageStore } from './store.ts';
import { unpackImage, type UnpackedImage } from './unpack.ts';

export interface ImageRelease {
  digest: string;
  unpacked: UnpackedImage;
}

/** The digest a release pins: spec.revision for image specs (set at write time), or a digest in the reference itself. */
export function pinnedDigest(spec: ServiceSpec): string | undefined {
  if (isImageDigest(spec.revision)) return spec.revision;
  return spec.image === undefined ? undefined : parseImageReference(spec.image)?.digest;
}

export async function prepareImageRelease(input: {
  images: ImageStore;
  spec: ServiceSpec & { image: string };
  bundleDir: string;
  identity: SandboxIdentity;
  registry?: Record<string, RegistryCredential>;
  signal?: AbortSignal;
  onLine(line: string): void;
}): Promise<ImageRelease> {
  const ref = parseImageReference(input.spec.image);
  if (ref === undefined) throw new ForgeError('E_SPEC_INVALID', `${input.spec.image} is not an image reference`, { terminal: true });
  const credential = input.registry?.[ref.host];
  const started = Date.now();
  const { digest, pulled } = await input.images.ensure(ref, pinnedDigest(input.spec), {
    ...(credential ? { credential } : {}), ...(input.signal ? { signal: input.signal } : {}),
  });
  input.onLine(pulled
    ? `pulled ${input.spec.image} (${digest}) in ${Date.now() - started} ms`
    : `image ${input.spec.image} (${digest}) is in the agent's cache`);
  const unpacked = await input.images.exclusive(() => unpackImage(input.images.layout, layoutTag(digest), input.bundleDir, input.identity));
  // crun sets the root up as the namespace's root (an unprivileged host uid): it must pass through.
  await chmod(input.bundleDir, 0o711);
  await rm(path.join(input.bundleDir, 'config.json'), { force: true });
  return { digest, unpacked };
}
