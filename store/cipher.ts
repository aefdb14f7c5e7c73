// AES-256-GCM for secret values at rest. Each value gets a random 96-bit nonce and
// is bound to its owner (service name + key) as associated data, so a ciphertext
// copied into another service's row fails to decrypt instead of leaking there.
// Layout of a sealed value: nonce (12) | tag (16) | ciphertext.

import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ForgeError } from '../errors/index.ts';

export interface SealedValue {
  ciphertext: Buffer;
  keyId: string;
}

export interface Cipher {
  readonly currentKeyId: string;
  seal(owner: string, key: string, value: string): SealedValue;
  open(owner: string, key: string, sealed: SealedValue): string;
}

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A key id is derived from the key itself so two processes agree without coordination. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

export function parseEncryptionKey(base64: string): Buffer {
  const key = Buffer.from(base64.trim(), 'base64');
  if (key.length !== 32) {
    throw new ForgeError('E_USAGE', `FORGE_ENCRYPTION_KEY must be 32 bytes encoded as base64 (got ${key.length} bytes)`);
  }
  return key;
}

/** `keys[0]` encrypts; every key decrypts (so values sealed before a rotation still open). */
export function createCipher(keys: readonly Buffer[]): Cipher {
  const first = keys[0];
  if (!first) throw new ForgeError('E_USAGE', 'at least one encryption key is required');
  const byId = new Map(keys.map((k) => [keyIdOf(k), k] as const));
  const currentKeyId = keyIdOf(first);
  const aad = (owner: string, key: string) => Buffer.from(`${owner}\u0000${key}`, 'utf8');

  return {
    currentKeyId,
    seal(owner, key, value) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', first, nonce);
      cipher.setAAD(aad(owner, key));
      const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
      return { ciphertext: Buffer.concat([nonce, cipher.getAuthTag(), body]), keyId: currentKeyId };
    },
    open(owner, key, sealed) {
      const secretKey = byId.get(sealed.keyId);
      if (!secretKey) {
        throw new ForgeError('E_SECRET_DECRYPT', `secret ${key} of ${owner} was sealed with key ${sealed.keyId}, which is not configured`);
      }
      try {
        const nonce = sealed.ciphertext.subarray(0, NONCE_BYTES);
        const tag = sealed.ciphertext.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES);
        const decipher = createDecipheriv('aes-256-gcm', secretKey, nonce);
        decipher.setAAD(aad(owner, key));
        decipher.setAuthTag(tag);
        const body = sealed.ciphertext.subarray(NONCE_BYTES + TAG_BYTES);
        return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
      } catch (cause) {
        // The cause is a crypto error: it never contains the plaintext.
        throw new ForgeError('E_SECRET_DECRYPT', `secret ${key} of ${owner} could not be decrypted (wrong key or tampered value)`, { cause });
      }
    },
  };
}
