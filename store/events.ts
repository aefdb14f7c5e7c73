// Per-service events: append-only, newest N kept per service.

import type { Db } from './db.ts';
import type { EventRow } from './types.ts';
import { type Clock, capText, iso } from './util.ts';

export const DEFAULT_EVENT_RETENTION = 200;
const MAX_MESSAGE = 4_096;

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

export function createEventsStore(db: Db, clock: Clock, retention: number = DEFAULT_EVENT_RETENTION) {
  const insert = db.prepare<[string, string, string, string, string], EventRow>(
    `INSERT INTO events (name, time, type, reason, message) VALUES (?, ?, ?, ?, ?)
     RETURNING id, name, time, type, reason, message`,
  );
  // Walks at most `retention` index entries of this service: cheap enough to run on every append.
  const trim = db.prepare(
    `DELETE FROM events WHERE name = @name AND id <= (
       SELECT id FROM events WHERE name = @name ORDER BY id DESC LIMIT 1 OFFSET @keep)`,
  );
  const after = db.prepare<[string, number, number], EventRow>(
    'SELECT id, name, time, type, reason, message FROM events WHERE name = ? AND id > ? ORDER BY id LIMIT ?',
  );
  const newest = db.prepare<[string, number], EventRow>(
    `SELECT * FROM (SELECT id, name, time, type, reason, message FROM events
       WHERE name = ? ORDER BY id DESC LIMIT ?) ORDER BY id`,
  );

  const append = db.transaction((name: string, event: EventInput): EventRow => {
    const row = insert.get(name, iso(clock()), event.type, event.reason, capText(event.message, MAX_MESSAGE));
    trim.run({ name, keep: retention });
    return row as EventRow;
  });

  return {
    /** Records an event (message capped at 4 KiB) and drops the service's oldest beyond the retention. */
    append: (name: string, event: EventInput): EventRow => append(name, event),
    /** Oldest first. */
    list(name: string, options: EventListOptions = {}): EventRow[] {
      const limit = options.limit ?? 100;
      return options.afterId === undefined ? newest.all(name, limit) : after.all(name, options.afterId, limit);
    },
  };
}

export type EventsStore = ReturnType<typeof createEventsStore>;
