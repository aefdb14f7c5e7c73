// Cron ticks with Forge's DST rule, as tables: each row is a schedule in a zone, a start
// instant and the exact next ticks (as UTC instants, with the local wall clock for reading).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSchedule, ticksBetween, nextTick, ScheduleError } from '../../specs/cron.ts';

interface Row { name: string; schedule: string; zone: string; from: string; want: string[] }

const local = (t: number, zone: string) => new Date(t).toLocaleString('sv-SE', { timeZone: zone, timeZoneName: 'short' });

const ROWS: Row[] = [
  { name: 'every minute', schedule: '* * * * *', zone: 'UTC', from: '2026-06-01T10:00:30Z',
    want: ['2026-06-01T10:01:00Z', '2026-06-01T10:02:00Z', '2026-06-01T10:03:00Z'] },
  { name: 'every minute from an exact tick excludes it', schedule: '* * * * *', zone: 'UTC', from: '2026-06-01T10:01:00Z',
    want: ['2026-06-01T10:02:00Z', '2026-06-01T10:03:00Z'] },
  { name: '@hourly macro', schedule: '@hourly', zone: 'UTC', from: '2026-06-01T10:00:00Z',
    want: ['2026-06-01T11:00:00Z', '2026-06-01T12:00:00Z'] },
  // Berlin, spring forward 2026-03-29: 02:00 CET → 03:00 CEST (01:00Z).
  { name: 'Berlin spring: a daily time in the gap runs once when the gap ends', schedule: '30 2 * * *', zone: 'Europe/Berlin', from: '2026-03-27T12:00:00Z',
    want: ['2026-03-28T01:30:00Z', '2026-03-29T01:00:00Z', '2026-03-30T00:30:00Z'] },
  { name: 'Berlin spring: every 20 min in hour 2 runs once at 03:00 (not skipped for the day)', schedule: '*/20 2 * * *', zone: 'Europe/Berlin', from: '2026-03-28T12:00:00Z',
    want: ['2026-03-29T01:00:00Z', '2026-03-30T00:00:00Z'] },
  { name: 'Berlin spring: hourly at :30 keeps every real hour, the gap hour lands on 03:00', schedule: '30 * * * *', zone: 'Europe/Berlin', from: '2026-03-28T23:45:00Z',
    want: ['2026-03-29T00:30:00Z', '2026-03-29T01:00:00Z', '2026-03-29T01:30:00Z', '2026-03-29T02:30:00Z'] },
  { name: 'Berlin spring: every minute makes one run for the whole skipped hour', schedule: '* * * * *', zone: 'Europe/Berlin', from: '2026-03-29T00:58:00Z',
    want: ['2026-03-29T00:59:00Z', '2026-03-29T01:00:00Z', '2026-03-29T01:01:00Z'] },
  // Berlin, fall back 2026-10-25: 03:00 CEST → 02:00 CET (01:00Z); 02:00-02:59 happens twice.
  { name: 'Berlin fall: a daily time in the repeated hour runs once (first occurrence)', schedule: '30 2 * * *', zone: 'Europe/Berlin', from: '2026-10-24T12:00:00Z',
    want: ['2026-10-25T00:30:00Z', '2026-10-26T01:30:00Z'] },
  { name: 'Berlin fall: hourly at :30 does not repeat 02:30', schedule: '30 * * * *', zone: 'Europe/Berlin', from: '2026-10-24T23:45:00Z',
    want: ['2026-10-25T00:30:00Z', '2026-10-25T02:30:00Z', '2026-10-25T03:30:00Z'] },
  { name: 'Berlin fall: hour range 1-3 runs 01:30, 02:30, 03:30 once each', schedule: '30 1-3 * * *', zone: 'Europe/Berlin', from: '2026-10-24T22:00:00Z',
    want: ['2026-10-24T23:30:00Z', '2026-10-25T00:30:00Z', '2026-10-25T02:30:00Z', '2026-10-26T00:30:00Z'] },
  { name: 'Berlin fall: from inside the repeated hour the next tick is after it', schedule: '*/20 * * * *', zone: 'Europe/Berlin', from: '2026-10-25T01:10:00Z',
    want: ['2026-10-25T02:00:00Z', '2026-10-25T02:20:00Z'] },
  // New York, spring forward 2026-03-08 02:00 EST → 03:00 EDT (07:00Z); fall back 2026-11-01 02:00 EDT → 01:00 EST (06:00Z).
  { name: 'New York spring: 02:15 daily runs at 03:00 EDT that day', schedule: '15 2 * * *', zone: 'America/New_York', from: '2026-03-07T12:00:00Z',
    want: ['2026-03-08T07:00:00Z', '2026-03-09T06:15:00Z'] },
  { name: 'New York fall: @hourly does not repeat 01:00', schedule: '@hourly', zone: 'America/New_York', from: '2026-11-01T04:30:00Z',
    want: ['2026-11-01T05:00:00Z', '2026-11-01T07:00:00Z', '2026-11-01T08:00:00Z'] },
  { name: 'New York fall: 01:30 daily runs once, at EDT', schedule: '30 1 * * *', zone: 'America/New_York', from: '2026-10-31T12:00:00Z',
    want: ['2026-11-01T05:30:00Z', '2026-11-02T06:30:00Z'] },
  { name: 'a zone without DST is plain', schedule: '0 9 * * MON-FRI', zone: 'Asia/Tokyo', from: '2026-06-05T00:00:00Z',
    want: ['2026-06-08T00:00:00Z', '2026-06-09T00:00:00Z'] },
];

for (const row of ROWS) {
  test(`ticks: ${row.name}`, () => {
    const s = parseSchedule(row.schedule, row.zone);
    const got: number[] = [];
    let t = Date.parse(row.from);
    for (let i = 0; i < row.want.length; i += 1) { t = nextTick(s, t)!; got.push(t); }
    assert.deepEqual(got.map((g) => `${new Date(g).toISOString().replace('.000', '')} (${local(g, row.zone)})`),
      row.want.map((w) => `${w} (${local(Date.parse(w), row.zone)})`));
  });
}

test('ticks: every wall-clock time of a DST day runs exactly once (hourly, both zones, both changes)', () => {
  for (const [zone, day] of [['Europe/Berlin', '2026-03-29'], ['Europe/Berlin', '2026-10-25'], ['America/New_York', '2026-03-08'], ['America/New_York', '2026-11-01']] as const) {
    const s = parseSchedule('0,30 * * * *', zone);
    const from = Date.parse(`${day}T00:00:00Z`) - 86_400_000;
    const ticks = ticksBetween(s, from, from + 3 * 86_400_000);
    const labels = ticks.map((t) => local(t, zone).slice(0, 16)).filter((l) => l.startsWith(day));
    assert.equal(new Set(ticks).size, ticks.length, `${zone} ${day}: an instant twice`);
    assert.equal(new Set(labels).size, labels.length, `${zone} ${day}: a wall-clock time twice: ${labels.join(', ')}`);
    // 48 half hours; the two of the skipped hour land on the gap's end (one run with the :00 tick there).
    assert.equal(labels.length, day.endsWith('-03-29') || day.endsWith('-03-08') ? 46 : 48, `${zone} ${day}`);
  }
});

test('schedules: bad expressions and zones are refused with a readable message', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['* * * *', 'UTC', /has 4 field\(s\)/],
    ['61 * * * *', 'UTC', /not a valid schedule: .*minute/],
    ['@fortnightly', 'UTC', /unknown macro/],
    ['* * * * * *', 'UTC', /has 6 field\(s\)/],
    ['* * * * *', 'Mars/Base', /unknown time zone `Mars\/Base`/],
  ];
  for (const [expr, zone, message] of cases) assert.throws(() => parseSchedule(expr, zone), (e: unknown) => e instanceof ScheduleError && message.test(e.message), expr);
  assert.equal(parseSchedule('* * * * * *', 'UTC', true).seconds, true);
});
