// Release command runs: one row per (service incarnation, release generation). The exactly-once
// rule lives here: `start` inserts the row as 'started' and succeeds only for the first caller,
// BEFORE anything runs; a row left 'started' (no result) means the command may have run.

import type { Sql } from './sql.ts';
import { type Clock, iso } from './util.ts';

export type ReleaseCommandState = 'started' | 'succeeded' | 'failed' | 'unknown';

export interface ReleaseCommandRow {
  serviceId: string;
  service: string;
  generation: number;
  hash: string;
  state: ReleaseCommandState;
  /** Where it runs (an agent task id, a Fly machine id), once known. */
  runRef: string | null;
  exitCode: number | null;
  lastLines: string[];
  reason: string | null;
  startedAt: string;
  finishedAt: string | null;
}

interface Record_ {
  service_id: string;
  service: string;
  generation: number;
  hash: string;
  state: ReleaseCommandState;
  run_ref: string | null;
  exit_code: number | null;
  last_lines: string;
  reason: string | null;
  started_at: string;
  finished_at: string | null;
}

function toRow(r: Record_): ReleaseCommandRow {
  return {
    serviceId: r.service_id, service: r.service, generation: r.generation, hash: r.hash, state: r.state,
    runRef: r.run_ref, exitCode: r.exit_code, lastLines: JSON.parse(r.last_lines) as string[], reason: r.reason,
    startedAt: r.started_at, finishedAt: r.finished_at,
  };
}

export interface ReleaseCommandFinish {
  state: Exclude<ReleaseCommandState, 'started'>;
  exitCode: number | null;
  lastLines: readonly string[];
  reason: string | null;
}

export function createReleaseCommandsStore(db: Sql, clock: Clock) {
  const insert = db.prepare(
    `INSERT INTO release_commands (service_id, service, generation, hash, state, started_at)
     VALUES (@serviceId, @service, @generation, @hash, 'started', @now)
     ON CONFLICT (service_id, generation) DO NOTHING`,
  );
  const one = db.prepare<[string, number], Record_>('SELECT * FROM release_commands WHERE service_id = ? AND generation = ?');
  const setRef = db.prepare(`UPDATE release_commands SET run_ref = @ref WHERE service_id = @serviceId AND generation = @generation AND state = 'started'`);
  const finish = db.prepare(
    `UPDATE release_commands SET state = @state, exit_code = @exitCode, last_lines = @lastLines, reason = @reason, finished_at = @now
     WHERE service_id = @serviceId AND generation = @generation AND state = 'started'`,
  );
  const forget = db.prepare(`DELETE FROM release_commands WHERE service_id = ? AND generation = ? AND state = 'started'`);
  const forService = db.prepare<[string], Record_>('SELECT * FROM release_commands WHERE service = ? ORDER BY generation DESC');

  return {
    /**
     * Records that the command of this release is about to start. True only for the first
     * caller: false means a row exists (it ran, or may have), and the caller must not start it.
     */
    start(input: { serviceId: string; service: string; generation: number; hash: string }): boolean {
      return insert.run({ ...input, now: iso(clock()) }).changes === 1;
    },
    setRunRef(serviceId: string, generation: number, ref: string): void {
      setRef.run({ serviceId, generation, ref });
    },
    /** Records the result of a started run; false when it was not 'started' (already finished). */
    finish(serviceId: string, generation: number, result: ReleaseCommandFinish): boolean {
      return finish.run({
        serviceId, generation, state: result.state, exitCode: result.exitCode,
        lastLines: JSON.stringify(result.lastLines.slice(-50)), reason: result.reason, now: iso(clock()),
      }).changes === 1;
    },
    /** Takes back a 'started' row whose command certainly never started (the provider said so). */
    forget(serviceId: string, generation: number): void {
      forget.run(serviceId, generation);
    },
    get(serviceId: string, generation: number): ReleaseCommandRow | null {
      const r = one.get(serviceId, generation);
      return r ? toRow(r) : null;
    },
    /** Newest generation first. */
    list(service: string): ReleaseCommandRow[] {
      return forService.all(service).map(toRow);
    },
  };
}

export type ReleaseCommandsStore = ReturnType<typeof createReleaseCommandsStore>;
