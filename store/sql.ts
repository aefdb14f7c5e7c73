// The one narrow interface between the sub-stores and a database engine. Every sub-store is
// written once against it; store/sqlite-engine.ts (better-sqlite3) and store/pg-engine.ts
// (PostgreSQL through a synchronous bridge) implement it. It is synchronous on purpose: the
// Store interface was synchronous before PostgreSQL existed and ~40 modules call it that way.
//
// Statements are written in SQLite's dialect with `?` or `@name` parameters. Where PostgreSQL
// needs other text, a statement is given as `{ sqlite, postgres }`; the PostgreSQL engine turns
// the parameters into `$n` itself (see translateParams).

export type Dialect = 'sqlite' | 'postgres';

/** One statement's text: portable, or one text per engine. */
export type SqlText = string | { readonly sqlite: string; readonly postgres: string };

export interface RunResult {
  /** Rows inserted, updated or deleted. */
  changes: number;
}

/** Positional parameters, or one object of named (`@name`) parameters. */
type Args<P> = P extends readonly unknown[] ? P : [P];

export interface Statement<P = unknown[], R = unknown> {
  get(...params: Args<P>): R | undefined;
  all(...params: Args<P>): R[];
  run(...params: Args<P>): RunResult;
  /** Rows one at a time where the engine can (SQLite); all at once otherwise. */
  iterate(...params: Args<P>): IterableIterator<R>;
}

export interface Sql {
  readonly dialect: Dialect;
  /** Parsed once; run many times. */
  prepare<P = unknown[], R = unknown>(text: SqlText): Statement<P, R>;
  /** Several statements without parameters (migrations). */
  exec(text: string): void;
  /**
   * Runs `fn` in one transaction that serializes with every other writing transaction (SQLite's
   * BEGIN IMMEDIATE; on PostgreSQL a transaction-scoped advisory lock), so read-then-write code
   * is correct on both engines. Nested calls are savepoints. `fn` must be synchronous.
   */
  transaction<T>(fn: () => T): T;
  readonly inTransaction: boolean;
  /**
   * A number that moves whenever anything committed since the last call, or null when the engine
   * cannot tell cheaply (cache.ts then reads the state_version row to learn whether a table changed).
   */
  writeMark(): string | null;
  close(): void;
  readonly open: boolean;
}

/** The text for `dialect`. */
export function textFor(text: SqlText, dialect: Dialect): string {
  return typeof text === 'string' ? text : text[dialect];
}

export interface TranslatedParams {
  text: string;
  /** For each `$n` (index n-1): a positional index, or a named parameter's name. */
  order: (number | string)[];
}

/**
 * `?` and `@name` → `$1…$n`, skipping quoted strings, identifiers and comments. A name used twice
 * gets one number. Pure, so the PostgreSQL engine does it once per statement.
 */
export function translateParams(sql: string): TranslatedParams {
  const order: (number | string)[] = [];
  const named = new Map<string, number>();
  let out = '';
  let positional = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i] as string;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end === -1 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') {
      order.push(positional++);
      out += `$${order.length}`;
    } else if (c === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1)) as RegExpExecArray;
      const name = match[0];
      let n = named.get(name);
      if (n === undefined) {
        order.push(name);
        n = order.length;
        named.set(name, n);
      }
      out += `$${n}`;
      i += name.length;
    } else {
      out += c;
    }
  }
  return { text: out, order };
}

/** The values for a translated statement, from better-sqlite3-style arguments. */
export function bindValues(order: readonly (number | string)[], args: readonly unknown[]): unknown[] {
  const first = args[0];
  const namedArgs = args.length === 1 && first !== null && typeof first === 'object' && !Array.isArray(first) &&
    !Buffer.isBuffer(first) ? (first as Record<string, unknown>) : undefined;
  return order.map((slot) => {
    if (typeof slot === 'number') return args[slot] ?? null;
    if (namedArgs === undefined || !(slot in namedArgs)) {
      throw new Error(`missing named parameter @${slot}`);
    }
    return namedArgs[slot] ?? null;
  });
}

/** `fn` as a function that runs in its own transaction each call (better-sqlite3's db.transaction(fn)). */
export function transactional<A extends unknown[], T>(db: Sql, fn: (...args: A) => T): (...args: A) => T {
  return (...args: A) => db.transaction(() => fn(...args));
}
