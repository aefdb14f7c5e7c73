// API keys: only a hash of each key is stored, with a short prefix for people to recognize it.

import { ForgeError } from '../errors/index.ts';
import type { Sql } from './sql.ts';
import type { ApiKeyRow } from './rows.ts';
import { type Clock, iso, newId } from './util.ts';

export interface ApiKeyInput {
  name: string;
  /** Hash of the key (the API chooses the hash); never the key itself. */
  hash: string;
  prefix: string;
}

interface ApiKeyRecord {
  id: string;
  name: string;
  hash: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

function toRow(r: ApiKeyRecord): ApiKeyRow {
  return {
    id: r.id,
    name: r.name,
    hash: r.hash,
    prefix: r.prefix,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
  };
}

export function createApiKeysStore(db: Sql, clock: Clock) {
  const insert = db.prepare<Record<string, unknown>, ApiKeyRecord>(
    `INSERT INTO api_keys (id, name, hash, prefix, created_at) VALUES (@id, @name, @hash, @prefix, @now)
     RETURNING *`,
  );
  const all = db.prepare<[], ApiKeyRecord>('SELECT * FROM api_keys ORDER BY created_at, rowid');
  // Accepts the id or the name; a name shared by several keys revokes them all.
  const revoke = db.prepare(
    'UPDATE api_keys SET revoked_at = @now WHERE (id = @ref OR name = @ref) AND revoked_at IS NULL',
  );
  const activeByHash = db.prepare<[string], ApiKeyRecord>(
    'SELECT * FROM api_keys WHERE hash = ? AND revoked_at IS NULL',
  );
  const touch = db.prepare('UPDATE api_keys SET last_used_at = @now WHERE id = @id');

  return {
    create(input: ApiKeyInput): ApiKeyRow {
      try {
        return toRow(insert.get({ ...input, id: newId('key'), now: iso(clock()) }) as ApiKeyRecord);
      } catch (cause) {
        if ((cause as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
          throw new ForgeError('E_CONFLICT', `an API key with the same hash already exists`, { cause });
        }
        throw cause;
      }
    },
    /** Every key, revoked ones included, oldest first. */
    list(): ApiKeyRow[] {
      return all.all().map(toRow);
    },
    /** Revokes by id or name; returns how many keys were revoked (0: none active matched). */
    revoke(idOrName: string): number {
      return revoke.run({ ref: idOrName, now: iso(clock()) }).changes;
    },
    /** The active (not revoked) key with this hash, or null. */
    findByHash(hash: string): ApiKeyRow | null {
      const r = activeByHash.get(hash);
      return r ? toRow(r) : null;
    },
    /** Records a successful use. */
    touch(id: string): void {
      touch.run({ id, now: iso(clock()) });
    },
  };
}

export type ApiKeysStore = ReturnType<typeof createApiKeysStore>;
