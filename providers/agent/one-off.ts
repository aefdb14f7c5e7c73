// One-offs on agents (a release command, `forge run`): a `build` task for one agent,
// followed in the store until it ends. The rules that make it run at most once: the task
// is never handed out a second time (agent-routes refuses a re-claim), and a task that
// was claimed but whose end nobody saw (lease lost, agent gone, cancelled while held)
// is reported as "may have run", never queued again.

import { setTimeout as sleep } from 'node:timers/promises';
import { ForgeError } from '../../errors/index.ts';
import type { Store } from '../../store/index.ts';
import type { TaskRow } from '../../store/rows.ts';
import type { OneOffContext, OneOffRequest, OneOffResult } from '../types.ts';
import type { OneOffPayload, ResultRequest } from '../../schemas/agent-protocol.ts';

export interface OneOffWaitOptions {
  store: Store;
  now(): number;
  /** How long a one-off may wait for an agent to claim it before it counts as not started. */
  claimWaitMs?: number;
  pollMs?: number;
}

export function oneOffPayload(request: OneOffRequest): OneOffPayload {
  return {
    instanceId: request.runId, purpose: request.purpose, spec: request.spec, hash: request.hash,
    generation: request.generation, command: request.command, timeoutMs: request.timeoutMs,
  };
}

/**
 * Follows a queued one-off task to its end. Throws (E_UNSCHEDULABLE) only when no agent
 * claimed it in time and it was cancelled unclaimed: then it certainly never started.
 */
export async function followOneOff(options: OneOffWaitOptions, task: TaskRow, ctx: OneOffContext, detach: boolean): Promise<OneOffResult> {
  const { store } = options;
  const pollMs = options.pollMs ?? 250;
  const claimDeadline = options.now() + (options.claimWaitMs ?? 60_000);
  let seq = 0;
  ctx.onRef?.(task.id);
  for (;;) {
    for (const line of store.tasks.logs(task.id, seq)) {
      seq = line.seq;
      ctx.onLine?.(line.line);
    }
    const row = store.tasks.get(task.id);
    if (row === null) throw new ForgeError('E_PROVIDER', `one-off task ${task.id} vanished`);
    if (row.state === 'succeeded' || row.state === 'failed') return resultOf(row);
    if (detach && row.state === 'running') return { exitCode: null, lastLines: [], message: `running on ${row.leaseOwner ?? 'an agent'}`, ref: row.id };
    if (row.state === 'cancelled') {
      if (row.attempts === 0) throw new ForgeError('E_PROVIDER', `one-off ${task.id} was cancelled before any agent took it`);
      return lost(row, 'it was cancelled while an agent held it');
    }
    const t = options.now();
    if (row.state === 'queued' && t > claimDeadline) {
      store.tasks.cancel(row.id);
      const after = store.tasks.get(row.id);
      if (after && after.attempts > 0) return lost(after, 'it was cancelled just as an agent took it');
      throw new ForgeError('E_UNSCHEDULABLE', `no agent took the one-off of ${task.service} within ${Math.round((options.claimWaitMs ?? 60_000) / 1000)} s`);
    }
    if ((row.state === 'claimed' || row.state === 'running') && row.leaseExpiresAt !== null && row.leaseExpiresAt < t) {
      // Its agent stopped renewing: whatever it did is unknown. Cancel so no one else takes it.
      store.tasks.cancel(row.id);
      return lost(row, `its agent ${row.leaseOwner ?? ''} stopped reporting mid-run (lease lost)`.replace('  ', ' '));
    }
    if (ctx.signal?.aborted) {
      // Nobody waits for it any more (a `forge run` client went away): cancel, so its agent kills it and cleans up.
      store.tasks.cancel(row.id);
      return { exitCode: null, lastLines: [], message: 'cancelled: nobody follows it any more', ref: row.id, mayHaveRun: row.attempts > 0 };
    }
    await sleep(pollMs);
  }
}

function lost(row: TaskRow, why: string): OneOffResult {
  return { exitCode: null, mayHaveRun: true, lastLines: [], message: why, ref: row.id };
}

function resultOf(row: TaskRow): OneOffResult {
  const result = (row.result ?? {}) as NonNullable<ResultRequest['result']>;
  const out: OneOffResult = {
    exitCode: typeof result.exitCode === 'number' ? result.exitCode : null,
    lastLines: Array.isArray(result.lastLines) ? result.lastLines : [],
    message: result.message ?? (row.state === 'succeeded' ? 'exited with code 0' : 'failed'),
    ref: row.id,
  };
  if (result.timedOut) out.timedOut = true;
  if (result.code === 'E_MAY_HAVE_RUN') out.mayHaveRun = true;
  return out;
}
