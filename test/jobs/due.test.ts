// decideDue() as tables: (job spec, last handled tick, runs still going, now) → exactly which
// ticks start, which are skipped and why, which runs are replaced, and the new cursor.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideDue, MAX_SKIPPED_ROWS, type RunningRun } from '../../reconciler/jobs/due.ts';
import { SPEC_DEFAULTS, type JobSpec } from '../../specs/types.ts';

const job = (over: Partial<JobSpec> = {}): JobSpec => ({ name: 'j', schedule: '* * * * *', command: 'true', ...SPEC_DEFAULTS.job, ...over });
const T = (hhmmss: string) => Date.parse(`2026-06-01T${hhmmss}Z`);
const show = (t: number) => new Date(t).toISOString().slice(11, 19);

interface Row {
  name: string;
  job: Partial<JobSpec>;
  cursor: string;
  running?: RunningRun[];
  now: string;
  /** `HH:MM:SS start` or `HH:MM:SS skip:reason`. */
  ticks: string[];
  replace?: string[];
  cursorAfter: string;
  next: string;
}

const ROWS: Row[] = [
  { name: 'every minute, nothing due yet', job: {}, cursor: '10:00:00', now: '10:00:59', ticks: [], cursorAfter: '10:00:00', next: '10:01:00' },
  { name: 'every minute, one tick due', job: {}, cursor: '10:00:00', now: '10:01:00', ticks: ['10:01:00 start'], cursorAfter: '10:01:00', next: '10:02:00' },
  { name: 'every minute, due a little late (slow loop)', job: {}, cursor: '10:00:00', now: '10:01:02', ticks: ['10:01:00 start'], cursorAfter: '10:01:00', next: '10:02:00' },
  { name: 'a repeated decision after the cursor moved finds nothing', job: {}, cursor: '10:01:00', now: '10:01:02', ticks: [], cursorAfter: '10:01:00', next: '10:02:00' },
  // Downtime 10:00:30 → 10:04:10 (ticks 10:01 .. 10:04 passed).
  { name: 'missed run-once: the newest runs, the older are skipped', job: { missed: 'run-once' }, cursor: '10:00:00', now: '10:04:10',
    ticks: ['10:01:00 skip:missed', '10:02:00 skip:missed', '10:03:00 skip:missed', '10:04:00 start'], cursorAfter: '10:04:00', next: '10:05:00' },
  { name: 'missed skip: the newest is under 60 s late, so it runs', job: { missed: 'skip' }, cursor: '10:00:00', now: '10:04:10',
    ticks: ['10:01:00 skip:missed', '10:02:00 skip:missed', '10:03:00 skip:missed', '10:04:00 start'], cursorAfter: '10:04:00', next: '10:05:00' },
  { name: 'missed run-once, hourly, 3 h down: one run now', job: { schedule: '@hourly', missed: 'run-once' }, cursor: '07:00:00', now: '10:40:00',
    ticks: ['08:00:00 skip:missed', '09:00:00 skip:missed', '10:00:00 start'], cursorAfter: '10:00:00', next: '11:00:00' },
  { name: 'missed skip, hourly, 3 h down: nothing runs until 11:00', job: { schedule: '@hourly', missed: 'skip' }, cursor: '07:00:00', now: '10:40:00',
    ticks: ['08:00:00 skip:missed', '09:00:00 skip:missed', '10:00:00 skip:missed'], cursorAfter: '10:00:00', next: '11:00:00' },
  { name: 'missed skip, one tick 61 s late', job: { missed: 'skip' }, cursor: '10:00:00', now: '10:02:01',
    ticks: ['10:01:00 skip:missed', '10:02:00 start'], cursorAfter: '10:02:00', next: '10:03:00' },
  // Concurrency, with the 10:00 run still going at 10:01.
  { name: 'forbid with a run going: the tick is skipped', job: { concurrency: 'forbid' }, cursor: '10:00:00', running: [{ id: 'r1', tick: T('10:00:00') }], now: '10:01:00',
    ticks: ['10:01:00 skip:still-running'], cursorAfter: '10:01:00', next: '10:02:00' },
  { name: 'allow with a run going: another starts beside it', job: { concurrency: 'allow' }, cursor: '10:00:00', running: [{ id: 'r1', tick: T('10:00:00') }], now: '10:01:00',
    ticks: ['10:01:00 start'], cursorAfter: '10:01:00', next: '10:02:00' },
  { name: 'replace with a run going: it is stopped, the new one starts', job: { concurrency: 'replace' }, cursor: '10:00:00', running: [{ id: 'r1', tick: T('10:00:00') }], now: '10:01:00',
    ticks: ['10:01:00 start'], replace: ['r1'], cursorAfter: '10:01:00', next: '10:02:00' },
  { name: 'forbid with nothing going: runs', job: { concurrency: 'forbid' }, cursor: '10:00:00', now: '10:01:00', ticks: ['10:01:00 start'], cursorAfter: '10:01:00', next: '10:02:00' },
  { name: 'forbid after downtime with a run going: all skipped', job: { concurrency: 'forbid' }, cursor: '10:00:00', running: [{ id: 'r1', tick: T('10:00:00') }], now: '10:02:30',
    ticks: ['10:01:00 skip:missed', '10:02:00 skip:still-running'], cursorAfter: '10:02:00', next: '10:03:00' },
];

for (const row of ROWS) {
  test(`due: ${row.name}`, () => {
    const d = decideDue(job(row.job), T(row.cursor), row.running ?? [], T(row.now));
    assert.deepEqual(d.ticks.map((t) => `${show(t.tick)} ${t.start ? 'start' : `skip:${t.reason}`}`), row.ticks);
    assert.deepEqual(d.replace, row.replace ?? []);
    assert.equal(show(d.cursor), row.cursorAfter);
    assert.equal(d.nextAt === null ? null : show(d.nextAt), row.next);
    assert.equal(d.uncounted, 0);
  });
}

test('due: a week down, every minute: 100 skipped rows, the rest counted, one run', () => {
  const cursor = T('10:00:00');
  const now = cursor + 7 * 86_400_000 + 5_000;
  const d = decideDue(job({ missed: 'run-once' }), cursor, [], now);
  assert.equal(d.ticks.filter((t) => !t.start).length, MAX_SKIPPED_ROWS);
  assert.equal(d.ticks.filter((t) => t.start).length, 1);
  assert.equal(d.ticks.length + d.uncounted, 7 * 24 * 60);
  assert.equal(d.cursor, now - 5_000);
});

test('due: DST days through the decision (Berlin fall back, hourly): 24 runs for 25 real hours, none twice', () => {
  const j = job({ schedule: '@hourly', timezone: 'Europe/Berlin' });
  let cursor = Date.parse('2026-10-24T22:00:00Z'); // local midnight
  const started: number[] = [];
  for (let now = cursor; now <= Date.parse('2026-10-25T23:00:00Z'); now += 60_000) {
    const d = decideDue(j, cursor, [], now);
    started.push(...d.ticks.filter((t) => t.start).map((t) => t.tick));
    cursor = d.cursor;
  }
  assert.equal(started.length, 24);
  assert.equal(new Set(started.map((t) => new Date(t).toLocaleString('sv-SE', { timeZone: 'Europe/Berlin' }))).size, 24);
});
