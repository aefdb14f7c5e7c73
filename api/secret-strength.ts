// How strong a configured secret must be in production: at least 32 characters with
// an estimated 128 bits or more (length × log2 of the distinct characters used, so
// `aaaa…` or a repeated word fails however long it is). A generated secret passes
// (`openssl rand -hex 32`: 64 characters of 16 kinds, ~256 bits). Pure.

import { ForgeError } from '../errors/index.ts';

export const MIN_SECRET_LENGTH = 32;
export const MIN_SECRET_BITS = 128;

export function estimatedBits(secret: string): number {
  const distinct = new Set(secret).size;
  return distinct <= 1 ? 0 : secret.length * Math.log2(distinct);
}

/** A secret that is one short piece (up to 16 characters) repeated: repetition is not entropy. */
function repeatsShortPattern(secret: string): boolean {
  for (let period = 1; period <= 16 && period < secret.length; period += 1) {
    let same = true;
    for (let i = period; i < secret.length && same; i += 1) same = secret[i] === secret[i - period];
    if (same) return true;
  }
  return false;
}

export function isStrongSecret(secret: string): boolean {
  return secret.length >= MIN_SECRET_LENGTH && estimatedBits(secret) >= MIN_SECRET_BITS && !repeatsShortPattern(secret);
}

export function assertStrongSecret(variable: string, secret: string): void {
  if (isStrongSecret(secret)) return;
  throw new ForgeError('E_USAGE',
    `${variable} is too weak for production mode: use at least ${MIN_SECRET_LENGTH} random characters (${MIN_SECRET_BITS} bits or more), e.g. \`openssl rand -hex 32\``);
}
