// Per-service events: append-only, newest N kept per service.

import { type Sql, transactional } from './sql.ts';
import type { EventRow } from './types.ts';
import { type Clock, capText, iso } from './util.ts';

export const DEFAULT_EVENT_RETENTION = 200;
const MAX_MESSAGE = 4_096;
/** How far back a repeated event is looked for (other events may come between repeats). */
const RECENT_FOR_COUNT = 20;
const COUNT_PREFIX = ' (seen ';

function splitCount(message: string): { text: string; count: number } {
  const match = / \(seen (\d+) times\)$/.exec(message);
  return match ? { text: message.slice(0, match.index), count: Number(match[1]) } : { text: message, count: 1 };
}

export interface EventInput {
  type: EventRow['type'];
  reason: string;
  message: string;
}

export interface EventListOptions {
  /** Most rows returned; default 100. */
  limit?: number;
  /** Only events with a larger id (for following); without it, the newest `limit` events. */
  afterId?: number;
}

export function createEventsStore(db: Sql, clock: Clock, retention: number = DEFAULT_EVENT_RETENTION) {
  // The service id is that of the live row of the name (one incarnation), unless given.
  const insert = db.prepare<[string, string | null, string, string, string, string, string], EventRow>(
    `INSERT INTO events (name, service_id, time, type, reason, message)
     VALUES (?, COALESCE(?, (SELECT id FROM services WHERE name = ?)), ?, ?, ?, ?)
     RETURNING id, name, time, type, reason, message`,
  );
  // Walks at most `retention` index entries of this service: cheap enough to run on every append.
  const trim = db.prepare(
    `DELETE FROM events WHERE name = @name AND id <= (
       SELECT id FROM events WHERE name = @name ORDER BY id DESC LIMIT 1 OFFSET @keep)`,
  );
  // One incarnation's events: the live row's; with no row (deleted), the newest event's
  // incarnation, so a follower of a deletion still sees how it ended.
  const INCARNATION = `service_id IS COALESCE((SELECT id FROM services WHERE name = @name),
    (SELECT service_id FROM events WHERE name = @name ORDER BY id DESC LIMIT 1))`;
  const after = db.prepare<{ name: string; afterId: number; limit: number }, EventRow>(
    `SELECT id, name, time, type, reason, message FROM events
     WHERE name = @name AND ${INCARNATION} AND id > @afterId ORDER BY id LIMIT @limit`,
  );
  const newest = db.prepare<{ name: string; limit: number }, EventRow>(
    `SELECT * FROM (SELECT id, name, time, type, reason, message FROM events
       WHERE name = @name AND ${INCARNATION} ORDER BY id DESC LIMIT @limit) AS newest ORDER BY id`,
  );

  const append = transactional(db, (name: string, event: EventInput, serviceId: string | null): EventRow => {
    const row = insert.get(name, serviceId, name, iso(clock()), event.type, event.reason, capText(event.message, MAX_MESSAGE));
    trim.run({ name, keep: retention });
    return row as EventRow;
  });

  const recent = db.prepare<{ name: string; limit: number }, EventRow>(
    `SELECT id, name, time, type, reason, message FROM events
     WHERE name = @name AND ${INCARNATION} ORDER BY id DESC LIMIT @limit`,
  );
  const restate = db.prepare<[string, string, number]>('UPDATE events SET message = ?, time = ? WHERE id = ?');

  // The same warning on every retry is one event that counts, as Kubernetes does:
  // a reader sees each distinct reason once, with how often and when last.
  const appendCounted = transactional(db, (name: string, event: EventInput): EventRow => {
    const message = capText(event.message, MAX_MESSAGE - 32);
    for (const row of recent.all({ name, limit: RECENT_FOR_COUNT })) {
      const { text, count } = splitCount(row.message);
      if (row.type !== event.type || row.reason !== event.reason || text !== message) continue;
      const next = `${message}${COUNT_PREFIX}${count + 1} times)`;
      const time = iso(clock());
      restate.run(next, time, row.id);
      return { ...row, message: next, time };
    }
    return append(name, { ...event, message }, null);
  });

  return {
    /**
     * Records an event (message capped at 4 KiB) and drops the service's oldest beyond the retention.
     * It belongs to the live row of `name`, or to `serviceId` when given (the row is already gone).
     */
    append: (name: string, event: EventInput, serviceId?: string): EventRow => append(name, event, serviceId ?? null),
    /**
     * Records an event, unless one of the service's recent events says the same (type,
     * reason, message): that one counts it instead (`… (seen N times)`) and takes its time.
     */
    appendCounted: (name: string, event: EventInput): EventRow => appendCounted(name, event),
    /** Oldest first; only the events of the service that has this name now (or, when none has, had it last). */
    list(name: string, options: EventListOptions = {}): EventRow[] {
      const limit = options.limit ?? 100;
      return options.afterId === undefined ? newest.all({ name, limit }) : after.all({ name, afterId: options.afterId, limit });
    },
  };
}

export type EventsStore = ReturnType<typeof createEventsStore>;
