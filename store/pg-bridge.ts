// A synchronous call into an asynchronous PostgreSQL client. A worker thread owns one `pg`
// client; the calling thread posts a request on a MessagePort, then blocks on Atomics.wait over
// a SharedArrayBuffer until the worker has posted the answer, and takes it off the port with
// receiveMessageOnPort. The caller's event loop is blocked for the round trip, exactly as it is
// during a better-sqlite3 call (sub-millisecond against a PostgreSQL on the same network).
//
// The worker runs from source text (eval), not from a file: it then works the same under tsx,
// from the compiled dist/, and from bin/forge's in-process tsx fallback.

import { createRequire } from 'node:module';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { ForgeError } from '../errors/index.ts';

export interface QueryRequest {
  op: 'query';
  text: string;
  values?: unknown[];
  /** Set for statements run often: the server keeps them parsed (a named prepared statement). */
  name?: string;
  /**
   * Set inside a transaction: the connection (QueryAnswer.connection) its BEGIN ran on. The worker
   * runs the statement only on that connection; if it is gone, the statement is refused, never run
   * on a new connection (where it would land outside the transaction, unfenced and unlocked).
   */
  connection?: number;
}
export type BridgeRequest = QueryRequest | { op: 'close' } | { op: 'reset' };

export interface QueryAnswer {
  rows: Record<string, unknown>[];
  rowCount: number;
  /** The command tag of the last statement (COMMIT answers ROLLBACK for a failed transaction). */
  command?: string;
  /** The number of the connection the statement ran on (a new connection gets a new number). */
  connection?: number;
  /** SQLSTATEs of the notices (warnings) the server sent while running the statement. */
  notices?: string[];
}

interface Answer {
  /** The request's id: a call takes only its own answer. */
  id: number;
  ok?: QueryAnswer;
  error?: { message: string; code?: string; constraint?: string };
}

/** The worker's source. Plain CommonJS: it must not depend on a TypeScript loader. */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const pg = require(workerData.pgPath);
const { port, shared, url } = workerData;
// Values the sub-stores expect as SQLite gives them: int8 and numeric as numbers, booleans as 0/1.
const types = {
  getTypeParser(oid, format) {
    if (oid === 20 || oid === 1700) return (v) => Number(v);
    if (oid === 16) return (v) => (v === 't' ? 1 : 0);
    return pg.types.getTypeParser(oid, format);
  },
};
// The connection, as a promise (so two requests never open two): null until the first query,
// after a broken connection, and after a reset.
let client = null;
// Each connection gets the next number: a transaction's statements name the one its BEGIN ran on.
let connections = 0;
let notices = [];
function connected() {
  if (client === null) {
    const number = ++connections;
    const p = (async () => {
      // A transaction is never idle here but for a paused process (SIGSTOP, a VM frozen): the server
      // then ends it after a few seconds, so the writers' lock it holds cannot stall every replica
      // (and the election after it) for as long as the pause lasts.
      const c = new pg.Client({ connectionString: url, types, application_name: 'forge', idle_in_transaction_session_timeout: 5000 });
      // A dropped connection surfaces on the next query; the one after that reconnects.
      c.on('error', () => { if (client === p) client = null; });
      c.on('notice', (n) => { if (n && n.code) notices.push(n.code); });
      await c.connect();
      c.forgeNumber = number;
      return c;
    })();
    client = p;
    p.catch(() => { if (client === p) client = null; });
  }
  return client;
}
function drop(p) {
  if (client === p) client = null;
  p.then((c) => c.end()).catch(() => undefined);
}
function answer(message) {
  port.postMessage(message);
  Atomics.store(shared, 0, 1);
  Atomics.notify(shared, 0);
}
port.on('message', async (req) => {
  // The caller gave up waiting: the session's state is unknown (a BEGIN that ran late would leave
  // a transaction open), so it is ended; the server rolls back whatever it held.
  if (req.op === 'reset') {
    if (client !== null) drop(client);
    return;
  }
  let p = null;
  try {
    if (req.op === 'close') {
      const last = client; client = null;
      if (last !== null) await last.then((c) => c.end()).catch(() => undefined);
      answer({ id: req.id, ok: { rows: [], rowCount: 0 } });
      port.close();
      return;
    }
    if (req.connection !== undefined && client === null) {
      answer({ id: req.id, error: { message: 'the connection to PostgreSQL was lost inside a transaction', code: 'FORGE_LOST' } });
      return;
    }
    p = connected();
    const c = await p;
    if (req.connection !== undefined && c.forgeNumber !== req.connection) {
      answer({ id: req.id, error: { message: 'the connection to PostgreSQL was lost inside a transaction', code: 'FORGE_LOST' } });
      return;
    }
    notices = [];
    const values = (req.values || []).map((v) => (v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v) : v));
    const res = await c.query(req.name ? { name: req.name, text: req.text, values } : { text: req.text, values });
    const last = Array.isArray(res) ? res[res.length - 1] : res;
    answer({ id: req.id, ok: { rows: last.rows || [], rowCount: last.rowCount || 0, command: last.command, connection: c.forgeNumber, notices } });
  } catch (e) {
    if (p !== null && (e.code === undefined || /^(08|57P)/.test(e.code))) drop(p);
    answer({ id: req.id, error: { message: String(e && e.message), code: e && e.code, constraint: e && e.constraint } });
  }
});
`;

/** PostgreSQL's SQLSTATEs the sub-stores branch on, named as SQLite names them. */
const CONSTRAINT_CODES: Record<string, string> = {
  '23505': 'SQLITE_CONSTRAINT_UNIQUE',
  '23503': 'SQLITE_CONSTRAINT_FOREIGNKEY',
};

/** The worker's code for a statement refused because its transaction's connection is gone. */
export const LOST_CONNECTION = 'FORGE_LOST';

export class PgBridgeError extends Error {
  readonly code: string | undefined;
  /** PostgreSQL's SQLSTATE (e.g. 23505). */
  readonly sqlState: string | undefined;
  constructor(message: string, sqlState: string | undefined) {
    super(message);
    this.name = 'PgBridgeError';
    this.sqlState = sqlState;
    this.code = sqlState === undefined ? undefined : (CONSTRAINT_CODES[sqlState] ?? `PG_${sqlState}`);
  }
}

export interface PgBridge {
  /** `timeoutMs`: how long this call may block (default CALL_TIMEOUT_MS); then E_STORE, and the session is reset. */
  call(request: QueryRequest, timeoutMs?: number): QueryAnswer;
  close(): void;
  readonly open: boolean;
}

/** How long one call may block before the store gives up on the server. */
const CALL_TIMEOUT_MS = 60_000;

export function openPgBridge(url: string): PgBridge {
  const shared = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const pgPath = createRequire(import.meta.url).resolve('pg');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { port: port2, shared, url, pgPath },
    transferList: [port2],
    // The worker must not inherit a TypeScript loader's flags: it is plain JavaScript.
    execArgv: [],
  });
  // The store's close() ends it; a store never closed must not keep the process alive.
  worker.unref();
  port1.unref();
  let open = true;

  let lastId = 0;
  function send(request: BridgeRequest, port: MessagePort, callTimeoutMs = CALL_TIMEOUT_MS): Answer {
    const id = ++lastId;
    port.postMessage({ ...request, id });
    const deadline = Date.now() + callTimeoutMs;
    for (;;) {
      // Cleared before the port is read: an answer posted after the read sets it again.
      Atomics.store(shared, 0, 0);
      // The answer of a call that gave up waiting may come first: it is nobody's now.
      for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
        if ((m.message as Answer).id === id) return m.message as Answer;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        port.postMessage({ op: 'reset', id: ++lastId });
        throw new ForgeError('E_STORE', `PostgreSQL did not answer within ${callTimeoutMs / 1000} s`);
      }
      Atomics.wait(shared, 0, 0, Math.min(1_000, left));
    }
  }

  return {
    call(request: QueryRequest, timeoutMs?: number): QueryAnswer {
      if (!open) throw new ForgeError('E_STORE', 'the store is closed');
      const answer = send(request, port1, timeoutMs);
      if (answer.error !== undefined) throw new PgBridgeError(answer.error.message, answer.error.code);
      const ok = answer.ok as QueryAnswer;
      // Structured clone turns a Buffer into a plain Uint8Array: BYTEA columns come back as Buffers.
      for (const row of ok.rows) {
        for (const key in row) {
          const v = row[key];
          if (v instanceof Uint8Array && !Buffer.isBuffer(v)) row[key] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
        }
      }
      return ok;
    },
    close(): void {
      if (!open) return;
      open = false;
      try {
        send({ op: 'close' }, port1);
      } finally {
        port1.close();
        void worker.terminate();
      }
    },
    get open() {
      return open;
    },
  };
}
