// The Sql interface over PostgreSQL, through the synchronous bridge (pg-bridge.ts): the same
// sub-store code runs on both engines. One connection per store; transactions and savepoints run
// on it, so BEGIN and COMMIT always reach the same session.

import { ForgeError } from '../errors/index.ts';
import { LOST_CONNECTION, PgBridgeError, openPgBridge } from './pg-bridge.ts';
import { toPostgres } from './pg-dialect.ts';
import { type Sql, type SqlText, type Statement, bindValues, textFor, translateParams } from './sql.ts';

/**
 * The advisory lock every writing transaction takes first (pg_advisory_xact_lock, released at
 * COMMIT or ROLLBACK): writers run one at a time across every replica, as SQLite's BEGIN
 * IMMEDIATE makes them on one machine, so read-then-write code has no race on either engine.
 */
export const WRITER_LOCK_KEY = 0x466f7267; // "Forg"

export interface PgSql extends Sql {
  readonly dialect: 'postgres';
  readonly url: string;
  /**
   * Fencing: with a term set, every write (a transaction, or a lone INSERT/UPDATE/DELETE, which then
   * runs in one) first checks under the writer lock that leader_term still holds this term, and is
   * refused otherwise. An election takes the same lock to move the term, so no write of a deposed
   * leader can land after its successor was elected. Null: writes are not fenced.
   */
  fence(term: number | null): void;
  /** The term writes are fenced with now (null: not fenced). */
  readonly fenceTerm: number | null;
  /** Writes refused by the fence since this connection opened. */
  readonly fencedWrites: number;
}

/**
 * A write refused because the term it was issued under is over. E_FENCED (503), retryable: another
 * replica (the current leader, or any replica not fenced) can serve the request. Not E_CONFLICT:
 * the agent reads a 409 on progress/result as a lost lease and would abort running work.
 */
export function fencedError(mine: number, current: number): ForgeError {
  return new ForgeError(
    'E_FENCED',
    `this replica's leadership (term ${mine}) is over: the database holds term ${current}; the write was refused`,
  );
}

const WRITE = /^\s*(INSERT|UPDATE|DELETE)\b/i;

export function isPostgresUrl(text: string): boolean {
  return /^postgres(ql)?:\/\//i.test(text);
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

export function postgresSql(url: string): PgSql {
  const bridge = openPgBridge(url);
  let depth = 0;
  let fenceTerm: number | null = null;
  let fencedWrites = 0;
  // One server-side prepared statement per distinct text (some sub-stores prepare per call).
  const names = new Map<string, string>();
  // The connection the open transaction's BEGIN ran on (null outside a transaction): every later
  // statement of it must run there. A session the server ended (a process paused past
  // idle_in_transaction_session_timeout) took the transaction's start with it; the rest must not
  // run on a new connection, outside any transaction, unlocked and unfenced.
  let txConnection: number | null = null;

  const query = (text: string, values?: unknown[], name?: string) => {
    try {
      return bridge.call({
        op: 'query',
        text,
        ...(values ? { values } : {}),
        ...(name ? { name } : {}),
        ...(txConnection !== null ? { connection: txConnection } : {}),
      });
    } catch (error) {
      if (error instanceof PgBridgeError && error.sqlState === LOST_CONNECTION) {
        throw new ForgeError('E_STORE', 'the connection to PostgreSQL was lost inside a transaction: nothing of it was committed', {
          cause: error,
        });
      }
      throw error;
    }
  };

  try {
    query('SELECT 1');
  } catch (cause) {
    bridge.close();
    throw new ForgeError('E_STORE', `cannot connect to PostgreSQL at ${redactUrl(url)}: ${(cause as Error).message}`, {
      cause,
    });
  }

  function transaction<T>(fn: () => T): T {
    const savepoint = depth > 0 ? `forge_sp_${depth}` : null;
    if (savepoint === null) {
      const fenced = fenceTerm;
      const begin = `BEGIN; SELECT pg_advisory_xact_lock(${WRITER_LOCK_KEY})`;
      const started = query(fenced === null ? begin : `${begin}; SELECT term FROM leader_term WHERE id = 1`);
      txConnection = started.connection ?? null;
      if (fenced !== null) {
        const current = (started.rows[0]?.term as number | undefined) ?? 0;
        if (current !== fenced) {
          try {
            query('ROLLBACK');
          } finally {
            txConnection = null;
          }
          fencedWrites++;
          throw fencedError(fenced, current);
        }
      }
    } else query(`SAVEPOINT ${savepoint}`);
    depth++;
    let result: T;
    try {
      result = fn();
      if (result instanceof Promise) throw new Error('store.transaction(fn): fn must be synchronous');
    } catch (error) {
      depth--;
      try {
        query(savepoint === null ? 'ROLLBACK' : `ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}`);
      } catch {
        // The connection is gone: the server rolled the transaction back itself.
      } finally {
        if (savepoint === null) txConnection = null;
      }
      throw error;
    }
    depth--;
    if (savepoint !== null) {
      query(`RELEASE SAVEPOINT ${savepoint}`);
      return result;
    }
    let committed;
    try {
      committed = query('COMMIT');
    } finally {
      txConnection = null;
    }
    // COMMIT of an aborted transaction answers ROLLBACK; with none open it only warns (25P01).
    // Either way nothing was committed, and the caller must not think otherwise.
    if (committed.command === 'ROLLBACK' || (committed.notices ?? []).includes('25P01')) {
      throw new ForgeError('E_STORE', 'PostgreSQL did not commit the transaction: nothing of it was committed');
    }
    return result;
  }

  return {
    dialect: 'postgres',
    url,
    prepare<P = unknown[], R = unknown>(text: SqlText): Statement<P, R> {
      // A portable text is SQLite's dialect, rewritten; a per-engine text is used as written.
      const { text: sql, order } = translateParams(typeof text === 'string' ? toPostgres(text) : textFor(text, 'postgres'));
      let name = names.get(sql);
      if (name === undefined) names.set(sql, (name = `forge_${names.size + 1}`));
      const write = WRITE.test(sql);
      const exec = (params: unknown[]) => {
        const run = () => query(sql, bindValues(order, params), name as string);
        return fenceTerm !== null && depth === 0 && write ? transaction(run) : run();
      };
      return {
        get: (...params) => exec(params as unknown[]).rows[0] as R | undefined,
        all: (...params) => exec(params as unknown[]).rows as R[],
        run: (...params) => ({ changes: exec(params as unknown[]).rowCount }),
        iterate: (...params) => (exec(params as unknown[]).rows as R[])[Symbol.iterator](),
      };
    },
    exec(text: string): void {
      query(text);
    },
    transaction,
    fence(term: number | null): void {
      fenceTerm = term;
    },
    get fenceTerm() {
      return fenceTerm;
    },
    get fencedWrites() {
      return fencedWrites;
    },
    get inTransaction() {
      return depth > 0;
    },
    // Another replica's commit is invisible to this process without a round trip: the caches read
    // the state_version row instead (cache.ts).
    writeMark: () => null,
    close(): void {
      bridge.close();
    },
    get open() {
      return bridge.open;
    },
  };
}
