// Secret values per (service, key), stored only as ciphertext produced by the API's cipher.
// The store never sees a plaintext value and never puts a ciphertext in an error message.

import { ForgeError } from '../errors/index.ts';
import { type Sql, transactional } from './sql.ts';
import type { SecretRow } from './types.ts';
import { type Clock, iso } from './util.ts';

export type SecretInput = Omit<SecretRow, 'name'>;

interface SecretRecord {
  name: string;
  key: string;
  ciphertext: Buffer;
  key_id: string;
}

function toRow(r: SecretRecord): SecretRow {
  return { name: r.name, key: r.key, ciphertext: r.ciphertext, keyId: r.key_id };
}

function missingService(name: string, cause: unknown): unknown {
  if ((cause as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
    return new ForgeError('E_NOT_FOUND', `service ${name} does not exist; its secrets cannot be stored`, { cause });
  }
  return cause;
}

function assertBuffer(ciphertext: unknown, key: string): asserts ciphertext is Buffer {
  if (!Buffer.isBuffer(ciphertext)) {
    throw new ForgeError('E_INTERNAL', `secret ${key}: the store accepts only ciphertext buffers`);
  }
}

export function createSecretsStore(db: Sql, clock: Clock) {
  const upsert = db.prepare(
    `INSERT INTO secrets (name, key, ciphertext, key_id, updated_at) VALUES (@name, @key, @ciphertext, @keyId, @now)
     ON CONFLICT (name, key) DO UPDATE SET
       ciphertext = excluded.ciphertext, key_id = excluded.key_id, updated_at = excluded.updated_at`,
  );
  const remove = db.prepare('DELETE FROM secrets WHERE name = ? AND key = ?');
  const removeAll = db.prepare('DELETE FROM secrets WHERE name = ?');
  const keys = db.prepare<[string], { key: string }>('SELECT key FROM secrets WHERE name = ? ORDER BY key');
  const forService = db.prepare<[string], SecretRecord>(
    'SELECT name, key, ciphertext, key_id FROM secrets WHERE name = ? ORDER BY key',
  );
  const everything = db.prepare<[], SecretRecord>(
    'SELECT name, key, ciphertext, key_id FROM secrets ORDER BY name, key',
  );

  const put = (name: string, key: string, ciphertext: Buffer, keyId: string): void => {
    assertBuffer(ciphertext, key);
    try {
      upsert.run({ name, key, ciphertext, keyId, now: iso(clock()) });
    } catch (cause) {
      throw missingService(name, cause);
    }
  };

  const replaceAll = transactional(db, (name: string, rows: readonly SecretInput[]): void => {
    removeAll.run(name);
    for (const row of rows) put(name, row.key, row.ciphertext, row.keyId);
  });

  return {
    /** Stores or replaces one value. The service row must exist (E_NOT_FOUND otherwise). */
    put,
    /** False when there was no such key. */
    remove(name: string, key: string): boolean {
      return remove.run(name, key).changes > 0;
    },
    /** Key names only, sorted: what the API may show. */
    keys(name: string): string[] {
      return keys.all(name).map((r) => r.key);
    },
    all(name: string): SecretRow[] {
      return forService.all(name).map(toRow);
    },
    /** Every secret of every service, for re-encryption under a new key. */
    allRows(): SecretRow[] {
      return everything.all().map(toRow);
    },
    /** Makes the service's secrets exactly `rows`, atomically (the API's `envVars` replace-all). */
    replaceAll: (name: string, rows: readonly SecretInput[]): void => replaceAll(name, rows),
  };
}

export type SecretsStore = ReturnType<typeof createSecretsStore>;
