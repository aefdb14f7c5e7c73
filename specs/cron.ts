// Pure: cron schedules → the instants a job is due. croner parses the expression
// and matches it against a *wall clock* (we ask it in UTC, which has no DST, so it
// enumerates local date-times as if they were UTC); this module then maps each
// wall-clock time to one instant of the job's zone with Forge's own DST rule:
//
// - a wall-clock time that happens once runs at that instant;
// - a wall-clock time that happens twice (clocks set back) runs once, at its FIRST
//   occurrence; the repeated stretch does not run those times again;
// - a wall-clock time that does not happen (clocks set forward) runs once, at the
//   instant the gap ends (e.g. 02:30 in Europe/Berlin on the spring day → 03:00 CEST);
//   times that land on the same instant are one tick (a run is keyed by its instant).
//
// So every wall-clock time the schedule names runs exactly once: none is skipped
// and none is duplicated, whatever the hour field says.

import { Cron } from 'croner';

export interface Schedule {
  /** The expression as written (after macro expansion by croner). */
  expression: string;
  timezone: string;
  /** Tests only: a six-field expression with seconds first. */
  seconds: boolean;
  cron: Cron;
}

const MACROS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

export class ScheduleError extends Error {}

/** Whether `zone` is an IANA zone this runtime knows. */
export function isKnownZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone.length > 0;
  } catch {
    return false;
  }
}

/**
 * Parses a 5-field expression or an `@hourly`-style macro. Six fields (seconds first) only
 * with `allowSeconds` (a test-only resolution). Throws ScheduleError with a readable message.
 */
export function parseSchedule(expression: string, timezone = 'UTC', allowSeconds = false): Schedule {
  const text = expression.trim();
  if (!isKnownZone(timezone)) throw new ScheduleError(`unknown time zone \`${timezone}\`: use an IANA name such as Europe/Berlin or UTC`);
  const fields = text.split(/\s+/).length;
  if (text.startsWith('@')) {
    if (!MACROS.has(text.toLowerCase())) throw new ScheduleError(`unknown macro \`${text}\`: use one of ${[...MACROS].join(', ')}`);
  } else if (!(fields === 5 || (fields === 6 && allowSeconds))) {
    throw new ScheduleError(`\`${text}\` has ${fields} field(s): a schedule has 5 (minute hour day-of-month month day-of-week) or is a macro such as @hourly`);
  }
  let cron: Cron;
  try {
    // UTC here on purpose: croner walks the wall clock; zoneInstant() maps it to the zone.
    cron = new Cron(text, { timezone: 'UTC', paused: true, legacyMode: true });
  } catch (error) {
    throw new ScheduleError(`\`${text}\` is not a valid schedule: ${(error as Error).message.replace(/^CronPattern: /, '')}`);
  }
  return { expression: text, timezone, seconds: fields === 6, cron };
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The zone's wall clock at `instant`, as ms of a UTC date with the same fields. */
export function wallClock(instant: number, zone: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(new Date(instant))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const ms = ((instant % 1000) + 1000) % 1000;
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!) + ms;
}

const HOUR = 3_600_000;

/** The instant a wall-clock time runs at in `zone`, by the rule at the top of this file. */
export function zoneInstant(wall: number, zone: string): number {
  // Offsets a day either side cover any transition near `wall` (none are closer than that).
  const offsets = new Set([wallClock(wall - 36 * HOUR, zone) - (wall - 36 * HOUR), wallClock(wall + 36 * HOUR, zone) - (wall + 36 * HOUR)]);
  const exact = [...offsets].map((o) => wall - o).filter((t) => wallClock(t, zone) === wall);
  if (exact.length > 0) return Math.min(...exact); // first occurrence when it happens twice
  // In a gap: the first instant whose wall clock is past `wall` is where the gap ends.
  let lo = wall - Math.max(...offsets); // before the gap (wall clock earlier than `wall`)
  let hi = wall - Math.min(...offsets); // after the gap
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallClock(mid, zone) > wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Wall-clock times tried before giving up (a repeated hour at seconds resolution needs 3,600). */
const MAX_STEPS = 20_000;

/** The first tick strictly after `after` (epoch ms), or null when the schedule has none left. */
export function nextTick(schedule: Schedule, after: number): number | null {
  // The wall → instant mapping never goes backwards, so no tick before `after`'s wall clock can
  // land after `after`: walk forward from there (in a repeated stretch the first steps land on
  // their first occurrence, before `after`, and are passed over).
  let wall = wallClock(after, schedule.timezone);
  for (let step = 0; step < MAX_STEPS; step += 1) {
    const next = schedule.cron.nextRun(new Date(wall));
    if (next === null) return null;
    wall = next.getTime();
    const instant = zoneInstant(wall, schedule.timezone);
    if (instant > after) return instant;
  }
  throw new ScheduleError(`no tick of \`${schedule.expression}\` found after ${new Date(after).toISOString()} within ${MAX_STEPS} steps`);
}

/** Ticks in (after, until], oldest first, at most `limit`. */
export function ticksBetween(schedule: Schedule, after: number, until: number, limit = 1_000): number[] {
  const out: number[] = [];
  let t = nextTick(schedule, after);
  while (t !== null && t <= until && out.length < limit) {
    out.push(t);
    t = nextTick(schedule, t);
  }
  return out;
}

/** The tick at or before `at` that is the newest one (null when none in the last `lookbackMs`). */
export function latestTick(schedule: Schedule, at: number, lookbackMs: number): number | null {
  const ticks = ticksBetween(schedule, at - lookbackMs, at, Number.MAX_SAFE_INTEGER);
  return ticks.length === 0 ? null : ticks[ticks.length - 1]!;
}
