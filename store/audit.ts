// Audit trail: who did what to which object. Append-only; `details` must never hold secret values
// (callers pass key names, not values).

import type { Sql } from './sql.ts';
import type { AuditRow } from './types.ts';
import { type Clock, iso } from './util.ts';

export type AuditInput = Omit<AuditRow, 'id' | 'time'>;

interface AuditRecord {
  id: number;
  time: string;
  actor: string;
  action: string;
  target: string;
  details: string | null;
}

function toRow(r: AuditRecord): AuditRow {
  return { ...r, details: r.details === null ? null : (JSON.parse(r.details) as unknown) };
}

export function createAuditStore(db: Sql, clock: Clock) {
  const insert = db.prepare<[string, string, string, string, string | null], AuditRecord>(
    'INSERT INTO audit (time, actor, action, target, details) VALUES (?, ?, ?, ?, ?) RETURNING *',
  );
  const newest = db.prepare<[number], AuditRecord>('SELECT * FROM audit ORDER BY id DESC LIMIT ?');
  const newestFor = db.prepare<[string, number], AuditRecord>(
    'SELECT * FROM audit WHERE target = ? ORDER BY id DESC LIMIT ?',
  );

  return {
    append(entry: AuditInput): AuditRow {
      const details = entry.details === undefined || entry.details === null ? null : JSON.stringify(entry.details);
      return toRow(insert.get(iso(clock()), entry.actor, entry.action, entry.target, details) as AuditRecord);
    },
    /** Newest first; optionally only one target's entries. */
    list(options: { limit?: number; target?: string } = {}): AuditRow[] {
      const limit = options.limit ?? 100;
      const rows = options.target === undefined ? newest.all(limit) : newestFor.all(options.target, limit);
      return rows.map(toRow);
    },
  };
}

export type AuditStore = ReturnType<typeof createAuditStore>;
