// Pure: what one cron job must do now, from (its spec, the last tick it handled, its runs
// still going, now). The scheduler (jobs/scheduler.ts) persists the answer — the new cursor and
// one row per tick, UNIQUE by (job, tick), in one transaction — before it starts anything, so a
// decision repeated after a crash finds its ticks already taken and cannot start one twice.

import { nextTick, parseSchedule, ticksBetween, type Schedule } from '../../specs/cron.ts';
import type { JobSpec } from '../../specs/types.ts';

/** A late tick under `missed: skip` still runs when it is at most this late (a slow loop is not downtime). */
export const START_DEADLINE_MS = 60_000;
/** At most this many missed ticks get a `skipped` row each; older ones are only counted. */
export const MAX_SKIPPED_ROWS = 100;

export type TickVerdict =
  | { tick: number; start: true }
  | { tick: number; start: false; reason: 'missed' | 'still-running' };

export interface DueDecision {
  /** Ticks handled by this decision, oldest first: the newest may start, the others are skipped. */
  ticks: TickVerdict[];
  /** Missed ticks beyond MAX_SKIPPED_ROWS (no row each). */
  uncounted: number;
  /** Runs to stop before the new one starts (`concurrency: replace`). */
  replace: string[];
  /** The new "last handled tick" (unchanged when nothing was due). */
  cursor: number;
  /** When the next tick is due (null: the schedule has no more). */
  nextAt: number | null;
}

export interface RunningRun {
  id: string;
  tick: number;
}

const schedules = new Map<string, Schedule>();
/** Parsed schedules, cached by expression and zone (parsing is the costly part). */
export function scheduleOf(job: Pick<JobSpec, 'schedule' | 'timezone'>, allowSeconds = false): Schedule {
  const key = `${allowSeconds ? 's' : ''}${job.timezone}\n${job.schedule}`;
  let s = schedules.get(key);
  if (!s) {
    s = parseSchedule(job.schedule, job.timezone, allowSeconds);
    schedules.set(key, s);
  }
  return s;
}

/**
 * `cursor`: the newest tick already handled (run or skipped); for a job never seen before the
 * caller passes the time it first saw it, so a new job does not run ticks from before it existed.
 */
export function decideDue(job: JobSpec, cursor: number, running: readonly RunningRun[], now: number, allowSeconds = false): DueDecision {
  const schedule = scheduleOf(job, allowSeconds);
  // Only the newest due tick can run; listing the rest is bounded (they are all skipped anyway).
  const due = ticksBetween(schedule, cursor, now, MAX_SKIPPED_ROWS + 1);
  let newest = due.pop();
  let uncounted = 0;
  if (due.length === MAX_SKIPPED_ROWS && newest !== undefined) {
    // Long downtime: walk to the real newest tick, counting (not listing) the ones in between.
    for (let next = nextTick(schedule, newest); next !== null && next <= now; next = nextTick(schedule, newest)) {
      newest = next;
      uncounted += 1;
    }
  }
  if (newest === undefined) return { ticks: [], uncounted: 0, replace: [], cursor, nextAt: nextTick(schedule, Math.max(cursor, now)) };

  const ticks: TickVerdict[] = due.map((tick) => ({ tick, start: false, reason: 'missed' as const }));
  let replace: string[] = [];
  if (job.missed === 'skip' && now - newest > START_DEADLINE_MS) {
    ticks.push({ tick: newest, start: false, reason: 'missed' });
  } else if (running.length > 0 && job.concurrency === 'forbid') {
    ticks.push({ tick: newest, start: false, reason: 'still-running' });
  } else {
    if (job.concurrency === 'replace') replace = running.map((r) => r.id);
    ticks.push({ tick: newest, start: true });
  }
  return { ticks, uncounted, replace, cursor: newest, nextAt: nextTick(schedule, Math.max(newest, now)) };
}
