// Image registry credentials per registry host (`ghcr.io`, `127.0.0.1:5000`). Like
// secrets, the store holds only the API cipher's ciphertext of the password and never
// puts it in an error; the username is not secret and is listed.

import type { Sql } from './sql.ts';
import { type Clock, iso } from './util.ts';

export interface RegistryCredentialRow {
  host: string;
  username: string;
  ciphertext: Buffer;
  keyId: string;
  updatedAt: string;
}

interface Record_ {
  host: string;
  username: string;
  ciphertext: Buffer;
  key_id: string;
  updated_at: string;
}

const toRow = (r: Record_): RegistryCredentialRow => ({ host: r.host, username: r.username, ciphertext: r.ciphertext, keyId: r.key_id, updatedAt: r.updated_at });

export function createRegistriesStore(db: Sql, clock: Clock) {
  const upsert = db.prepare(
    `INSERT INTO registry_credentials (host, username, ciphertext, key_id, updated_at) VALUES (@host, @username, @ciphertext, @keyId, @now)
     ON CONFLICT (host) DO UPDATE SET username = excluded.username, ciphertext = excluded.ciphertext, key_id = excluded.key_id, updated_at = excluded.updated_at`,
  );
  const one = db.prepare<[string], Record_>('SELECT * FROM registry_credentials WHERE host = ?');
  const all = db.prepare<[], Record_>('SELECT * FROM registry_credentials ORDER BY host');
  const remove = db.prepare('DELETE FROM registry_credentials WHERE host = ?');
  return {
    put(host: string, username: string, ciphertext: Buffer, keyId: string): void {
      upsert.run({ host, username, ciphertext, keyId, now: iso(clock()) });
    },
    get(host: string): RegistryCredentialRow | undefined {
      const r = one.get(host);
      return r === undefined ? undefined : toRow(r);
    },
    list(): RegistryCredentialRow[] {
      return all.all().map(toRow);
    },
    /** False when there was none. */
    remove(host: string): boolean {
      return remove.run(host).changes > 0;
    },
  };
}
