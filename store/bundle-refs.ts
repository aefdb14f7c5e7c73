// Which source revisions (bundle digests among them) are still named: by a live
// service's desired spec or by any release, so rollback targets keep their bundle.

import type { Sql } from './sql.ts';

export function createRevisionRefs(db: Sql) {
  const all = db.prepare<[], { revision: string | null }>(
    `SELECT json_extract(spec, '$.revision') AS revision FROM services
     UNION SELECT json_extract(spec, '$.revision') AS revision FROM releases`,
  );
  return {
    /** Every revision a service or a release names. */
    referenced(): Set<string> {
      const out = new Set<string>();
      for (const { revision } of all.all()) if (typeof revision === 'string') out.add(revision);
      return out;
    },
  };
}
