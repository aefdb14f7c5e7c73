// Deployments triggered by GitHub pushes; the delivery id makes redeliveries harmless.

import type { Sql } from './sql.ts';
import type { DeploymentRow, DeploymentState } from './rows.ts';
import { type Clock, iso, newId } from './util.ts';

export interface DeploymentInput {
  deliveryId: string;
  repo: string;
  branch: string;
  sha: string;
  message?: string | null;
}

interface DeploymentRecord {
  id: string;
  delivery_id: string;
  repo: string;
  branch: string;
  sha: string;
  state: DeploymentState;
  message: string | null;
  created_at: string;
  updated_at: string;
}

function toRow(r: DeploymentRecord): DeploymentRow {
  return {
    id: r.id,
    deliveryId: r.delivery_id,
    repo: r.repo,
    branch: r.branch,
    sha: r.sha,
    state: r.state,
    message: r.message,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function createDeploymentsStore(db: Sql, clock: Clock) {
  const insert = db.prepare<Record<string, unknown>, DeploymentRecord>(
    `INSERT INTO deployments (id, delivery_id, repo, branch, sha, state, message, created_at, updated_at)
     VALUES (@id, @deliveryId, @repo, @branch, @sha, 'pending', @message, @now, @now)
     ON CONFLICT (delivery_id) DO NOTHING
     RETURNING *`,
  );
  const setState = db.prepare(
    'UPDATE deployments SET state = @state, message = @message, updated_at = @now WHERE id = @id',
  );
  const markApplied = db.prepare('UPDATE deployments SET applied_at = @now WHERE id = @id');
  const lastApplied = db.prepare<[string, string], DeploymentRecord>(
    `SELECT * FROM deployments WHERE repo = ? AND branch = ? AND applied_at IS NOT NULL
     ORDER BY applied_at DESC, rowid DESC LIMIT 1`,
  );
  const one = db.prepare<[string], DeploymentRecord>('SELECT * FROM deployments WHERE id = ?');
  const byDelivery = db.prepare<[string], DeploymentRecord>('SELECT * FROM deployments WHERE delivery_id = ?');
  const byState = db.prepare<[], { state: DeploymentState; n: number }>('SELECT state, count(*) AS n FROM deployments GROUP BY state');
  const newest = db.prepare<[number], DeploymentRecord>(
    'SELECT * FROM deployments ORDER BY created_at DESC, rowid DESC LIMIT ?',
  );

  return {
    /** A new `pending` deployment, or null when this delivery id was seen before (a redelivery). */
    create(input: DeploymentInput): DeploymentRow | null {
      const row = insert.get({ ...input, message: input.message ?? null, id: newId('dep'), now: iso(clock()) });
      return row ? toRow(row) : null;
    },
    /** False when no such deployment. `message` replaces the previous one (null clears it). */
    setState(id: string, state: DeploymentState, message: string | null = null): boolean {
      return setState.run({ id, state, message, now: iso(clock()) }).changes > 0;
    },
    /** Records that this deployment's specs were written to the store. */
    markApplied(id: string): void {
      markApplied.run({ id, now: iso(clock()) });
    },
    /** The deployment whose specs were applied last from `repo@branch` (what that branch runs). */
    lastApplied(repo: string, branch: string): DeploymentRow | null {
      const r = lastApplied.get(repo, branch);
      return r ? toRow(r) : null;
    },
    get(id: string): DeploymentRow | null {
      const r = one.get(id);
      return r ? toRow(r) : null;
    },
    getByDelivery(deliveryId: string): DeploymentRow | null {
      const r = byDelivery.get(deliveryId);
      return r ? toRow(r) : null;
    },
    /** How many deployment rows are in each state now; states with none are absent. */
    countByState(): Map<DeploymentState, number> {
      return new Map(byState.all().map((r) => [r.state, r.n]));
    },
    /** Newest first. */
    list(limit = 100): DeploymentRow[] {
      return newest.all(limit).map(toRow);
    },
  };
}

export type DeploymentsStore = ReturnType<typeof createDeploymentsStore>;
