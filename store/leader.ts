// Leader election among replicas sharing one PostgreSQL: a session-level advisory lock held on a
// dedicated connection (asynchronous, apart from the store's synchronous bridge). Whoever holds the
// lock leads; winning it adds one to leader_term under the store's writer lock, so the term moves
// between writes, never inside one (fencing: see PgSql.fence). Standbys try again on a timer and
// at once when a leader steps down (LISTEN/NOTIFY). A leader whose process dies or is paused loses
// the lock with its session: the server ends a session idle for longer than `sessionTimeoutMs`
// (idle_session_timeout), and a live leader pings well within it.

import pg from 'pg';
import { WRITER_LOCK_KEY, redactUrl } from './pg-engine.ts';

/** The advisory lock key of leadership ("FrgL"), distinct from the writer lock. */
export const LEADER_LOCK_KEY = 0x4672674c;
const CHANNEL = 'forge_leader';

export interface Leadership {
  leader: boolean;
  /** The term this replica won (leader), or the last term it saw (standby); 0 before any election. */
  term: number;
}

export interface ElectionOptions {
  url: string;
  /** This replica's name (stored as the term's holder; the metrics label). */
  replica: string;
  onChange(state: Leadership): void;
  /** How often a standby tries for the lock and a leader proves it is alive; default 1000 ms. */
  pollMs?: number;
  /** A leader silent this long loses its session and its lock; default 5000 ms. */
  sessionTimeoutMs?: number;
  onError?(error: Error): void;
}

export interface Election {
  state(): Leadership;
  /** Steps down (the lock is released and standbys are woken) and closes the session. */
  stop(): Promise<void>;
}

export function startElection(options: ElectionOptions): Election {
  const pollMs = options.pollMs ?? 1_000;
  const sessionTimeoutMs = options.sessionTimeoutMs ?? 5_000;
  let state: Leadership = { leader: false, term: 0 };
  let client: pg.Client | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let busy: Promise<void> = Promise.resolve();

  const set = (next: Leadership) => {
    if (next.leader === state.leader && next.term === state.term) return;
    state = next;
    options.onChange(state);
  };

  async function connect(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: options.url, application_name: `forge-leader:${options.replica}` });
    c.on('error', (error) => {
      // The session is gone, and the lock with it.
      if (client === c) client = null;
      set({ leader: false, term: state.term });
      options.onError?.(new Error(`leader session to ${redactUrl(options.url)} lost: ${error.message}`));
    });
    c.on('notification', () => schedule(0));
    await c.connect();
    await c.query(`SET idle_session_timeout = ${Math.max(1, Math.trunc(sessionTimeoutMs))}`);
    await c.query(`LISTEN ${CHANNEL}`);
    return c;
  }

  async function round(): Promise<void> {
    if (client === null) client = await connect();
    const c = client;
    if (state.leader) {
      // Still the holder? (The session being alive is the proof; this keeps it from idling out.)
      await c.query('SELECT 1');
      return;
    }
    const got = (await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LEADER_LOCK_KEY])).rows[0]?.ok;
    if (!got) {
      const seen = await c.query<{ term: string }>('SELECT term FROM leader_term WHERE id = 1');
      set({ leader: false, term: Number(seen.rows[0]?.term ?? 0) });
      return;
    }
    try {
      // One round trip (a multi-statement simple query): this connection must never hold the
      // writers' lock while waiting on this process. The process's store waits on that lock
      // synchronously, its event loop blocked, so a COMMIT still to be sent from here would never
      // be sent: the two would wait on each other for good.
      const results = await c.query(`BEGIN; SELECT pg_advisory_xact_lock(${WRITER_LOCK_KEY});
        UPDATE leader_term SET term = term + 1, holder = ${c.escapeLiteral(options.replica)},
          elected_at = ${c.escapeLiteral(new Date().toISOString())} WHERE id = 1 RETURNING term;
        UPDATE tasks SET term = (SELECT term FROM leader_term WHERE id = 1) WHERE state = 'queued';
        COMMIT`) as unknown as pg.QueryResult<{ term: string }>[];
      // The new leader adopts the tasks still queued (nobody has them yet): a one-off or a cron
      // run queued just before the election is then run, not refused by agents as a deposed
      // leader's. The deposed leader cannot queue more after this (its writes are fenced by the
      // term moved above, under the same lock); a task already handed out keeps its term.
      const term = results.find((r) => r.command === 'UPDATE' && r.rows[0]?.term !== undefined)?.rows[0]?.term;
      if (term === undefined) throw new Error('leader_term has no row: is the database migrated?');
      set({ leader: true, term: Number(term) });
    } catch (error) {
      await c.query('ROLLBACK').catch(() => undefined);
      await c.query('SELECT pg_advisory_unlock($1)', [LEADER_LOCK_KEY]).catch(() => undefined);
      throw error;
    }
  }

  function schedule(delayMs: number): void {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      busy = busy.then(round).catch((error: Error) => {
        const c = client;
        client = null;
        void c?.end().catch(() => undefined);
        set({ leader: false, term: state.term });
        options.onError?.(error);
      }).finally(() => schedule(pollMs));
    }, delayMs);
  }

  schedule(0);

  return {
    state: () => state,
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await busy;
      const c = client;
      client = null;
      if (c !== null) {
        if (state.leader) {
          await c.query('SELECT pg_advisory_unlock($1)', [LEADER_LOCK_KEY]).catch(() => undefined);
          await c.query(`NOTIFY ${CHANNEL}`).catch(() => undefined);
        }
        await c.end().catch(() => undefined);
      }
      set({ leader: false, term: state.term });
    },
  };
}
