// Admin authentication: a Bearer JWT (HS256, exp required, role admin) or an
// `ik_…` API key whose sha256 is in store.apiKeys, sent as `Authorization: Bearer ik_…`
// or `x-api-key: ik_…`. Every failure gets the same
// 401 so a caller learns nothing about which part was wrong.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { jwtVerify } from 'jose';
import { ForgeError } from '../errors/index.ts';
import type { Store } from '../store/index.ts';

export const API_KEY_PREFIX = 'ik_';

export interface Principal {
  kind: 'key' | 'jwt';
  /** Shown in the audit log: `key:<name>` or `jwt:<sub>`. */
  actor: string;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new key: `ik_` + 32 random bytes (hex). Only its hash and a short prefix are stored. */
export function generateApiKey(random: (n: number) => Buffer = randomBytes): { key: string; hash: string; prefix: string } {
  const key = `${API_KEY_PREFIX}${random(32).toString('hex')}`;
  return { key, hash: hashApiKey(key), prefix: key.slice(0, API_KEY_PREFIX.length + 6) };
}

export function constantTimeEqual(a: string, b: string): boolean {
  // Hash both sides first: equal lengths for timingSafeEqual, and the length of the secret is not leaked.
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

export function unauthorized(): ForgeError {
  return new ForgeError('E_UNAUTHORIZED', 'authentication required: send a valid API key (x-api-key) or admin bearer token');
}

const API_KEY_SHAPE = /^ik_[0-9a-f]{64}$/;

export async function authenticate(request: FastifyRequest, store: Store, jwtSecret: Uint8Array): Promise<Principal> {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(header) : null;
  // An `ik_` bearer is an API key, taken before x-api-key, as InsForge does (its CLI sends keys this way).
  const bearerKey = match?.[1]?.startsWith(API_KEY_PREFIX) ? match[1] : undefined;
  const apiKey = bearerKey ?? request.headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') {
    if (!API_KEY_SHAPE.test(apiKey)) throw unauthorized();
    const hash = hashApiKey(apiKey);
    const row = store.apiKeys.findByHash(hash);
    if (!row || !constantTimeEqual(row.hash, hash)) throw unauthorized();
    // One write a minute per key at most: a busy client must not turn every GET into a write.
    if (row.lastUsedAt === null || Date.parse(row.lastUsedAt) < Date.now() - 60_000) store.apiKeys.touch(row.id);
    return { kind: 'key', actor: `key:${row.name}` };
  }
  if (!match?.[1]) throw unauthorized();
  try {
    const { payload } = await jwtVerify(match[1], jwtSecret, { algorithms: ['HS256'], requiredClaims: ['exp'] });
    if (payload.role !== 'admin') throw unauthorized();
    return { kind: 'jwt', actor: `jwt:${typeof payload.sub === 'string' ? payload.sub : 'anonymous'}` };
  } catch {
    throw unauthorized();
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** The authenticated actor of a request that passed the admin hook. */
export function actorOf(request: FastifyRequest): string {
  return request.principal?.actor ?? 'unknown';
}
