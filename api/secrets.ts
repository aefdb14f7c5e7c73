// Secret env values: sealed with the cipher into store.secrets (associated data
// service + key), opened only to hand to a provider, and folded into the desired
// hash through an HMAC so a value change redeploys while the hash reveals nothing.

import { createHmac, hkdfSync } from 'node:crypto';
import { hashWithSecrets } from '../reconciler/secret-values.ts';
import { ForgeError, isForgeError } from '../errors/index.ts';
import type { ServiceSpec } from '../specs/types.ts';
import { createCipher, type Cipher } from '../store/cipher.ts';
import type { SecretInput, Store } from '../store/index.ts';

/** The HMAC key for desired hashes: derived, so the encryption key itself never keys anything else. */
export function secretHashKey(encryptionKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', encryptionKey, Buffer.alloc(0), 'forge desired-hash v1', 32));
}

/**
 * The hash stored with a desired row. A spec without secrets keeps its plain specHash (so files
 * applied by watch mode and by the API agree); with secrets it is
 * sha256(specHash + ':' + HMAC(hashKey, sorted `name=value` lines)) over the values it names.
 */
export function desiredHash(spec: ServiceSpec, values: Readonly<Record<string, string>>, hashKey: Buffer): string {
  return hashWithSecrets(spec, secretsDigest(spec, values, hashKey));
}

/** HMAC(hashKey, sorted `name=value` lines) over the values the spec names; '' without secrets. */
export function secretsDigest(spec: ServiceSpec, values: Readonly<Record<string, string>>, hashKey: Buffer): string {
  if (spec.secrets.length === 0) return '';
  const lines = spec.secrets.map((name) => `${name}=${values[name] ?? ''}`).join('\n');
  return createHmac('sha256', hashKey).update(lines).digest('hex');
}

export function sealValues(cipher: Cipher, name: string, values: Readonly<Record<string, string>>): SecretInput[] {
  return Object.keys(values).sort().map((key) => ({ key, ...cipher.seal(name, key, values[key] as string) }));
}

/** Every stored value of one service, decrypted. A failure is E_SECRET_DECRYPT (terminal): never an empty env. */
export function openSecrets(store: Store, cipher: Cipher, name: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const row of store.secrets.all(name)) {
    try {
      values[row.key] = cipher.open(name, row.key, { ciphertext: row.ciphertext, keyId: row.keyId });
    } catch (cause) {
      if (isForgeError(cause) && cause.code === 'E_SECRET_DECRYPT') throw cause;
      throw new ForgeError('E_SECRET_DECRYPT', `secret ${row.key} of ${name} could not be decrypted`, { cause });
    }
  }
  return values;
}

/** The controller's `secretsFor` dependency. */
export function createSecretsFor(store: Store, cipher: Cipher): (name: string) => Record<string, string> {
  return (name) => openSecrets(store, cipher, name);
}

/**
 * The controller's `secretsDigest` dependency: the keyed digest of the values a spec names
 * today, so diff can tell an instance started with older values (reconciler/secret-values.ts).
 */
export function createSecretsDigestFor(store: Store, cipher: Cipher, hashKey: Buffer): (name: string, spec: ServiceSpec) => string {
  return (name, spec) => (spec.secrets.length === 0 ? '' : secretsDigest(spec, openSecrets(store, cipher, name), hashKey));
}

/**
 * A cipher that re-reads its keys when asked to open a value sealed under a key id it does not
 * know: after `forge keys rotate-encryption` rewrote the key file, a running control plane keeps
 * working without a restart.
 */
export function reloadingCipher(loadKeys: () => Buffer[]): Cipher {
  let inner = createCipher(loadKeys());
  let known = new Set<string>();
  const refresh = () => {
    const keys = loadKeys();
    inner = createCipher(keys);
    known = new Set(keys.map((k) => createCipher([k]).currentKeyId));
  };
  refresh();
  return {
    get currentKeyId() {
      return inner.currentKeyId;
    },
    seal: (owner, key, value) => inner.seal(owner, key, value),
    open(owner, key, sealed) {
      if (!known.has(sealed.keyId)) {
        try {
          refresh();
        } catch {
          // A half-written key file: keep the keys we had; open() reports the unknown id.
        }
      }
      return inner.open(owner, key, sealed);
    },
  };
}
