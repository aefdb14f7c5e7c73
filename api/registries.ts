// Registry credentials (per registry host): sealed with the API cipher like secret
// values (associated data `@registry` + host), opened only to hand to an agent with an
// image task for that host, or to resolve a tag on the control plane. Never returned
// by the API, never in an event, log line or argv.

import type { Cipher } from '../store/cipher.ts';
import type { Store } from '../store/index.ts';
import { ForgeError } from '../errors/index.ts';
import { parseImageReference } from '../specs/image-ref.ts';

const SCOPE = '@registry';

export interface RegistryCredential {
  username: string;
  password: string;
}

export function sealRegistry(store: Store, cipher: Cipher, host: string, credential: RegistryCredential): void {
  const sealed = cipher.seal(SCOPE, host, credential.password);
  store.registries.put(host, credential.username, sealed.ciphertext, sealed.keyId);
}

export function openRegistry(store: Store, cipher: Cipher, host: string): RegistryCredential | undefined {
  const row = store.registries.get(host);
  if (row === undefined) return undefined;
  try {
    return { username: row.username, password: cipher.open(SCOPE, host, { ciphertext: row.ciphertext, keyId: row.keyId }) };
  } catch (cause) {
    throw new ForgeError('E_SECRET_DECRYPT', `the credentials of registry ${host} could not be decrypted`, { cause });
  }
}

/**
 * Re-seals every stored registry password not under the cipher's current key (key
 * rotation, with secret values: cli/keys.ts). The caller runs it in its transaction.
 */
export function resealRegistries(store: Store, cipher: Cipher): { rewritten: number; total: number } {
  const rows = store.registries.list();
  let rewritten = 0;
  for (const row of rows) {
    if (row.keyId === cipher.currentKeyId) continue;
    const password = cipher.open(SCOPE, row.host, { ciphertext: row.ciphertext, keyId: row.keyId });
    sealRegistry(store, cipher, row.host, { username: row.username, password });
    rewritten += 1;
  }
  return { rewritten, total: rows.length };
}

/** host → credential for the registry an image names (empty when none is stored). */
export function registryAuthFor(store: Store, cipher: Cipher, image: string | undefined): Record<string, RegistryCredential> {
  const ref = image === undefined ? undefined : parseImageReference(image);
  if (ref === undefined) return {};
  const credential = openRegistry(store, cipher, ref.host);
  return credential === undefined ? {} : { [ref.host]: credential };
}

/** A registry host as people write it: a DNS name or address, optionally with a port. */
export function validRegistryHost(host: string): boolean {
  return /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/.test(host);
}
