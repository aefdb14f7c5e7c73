// The `jobs:` section of a spec: normalized with defaults, bad values positioned, and a
// jobs-only change does not touch instances.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { problemsOf, specsOf } from '../specs/helpers.ts';
import { changedFields, comparableSpec } from '../../reconciler/spec-fields.ts';

const BASE = ['name: web', 'image: nginx', 'jobs:'];

test('jobs: normalized with defaults, sorted by name', () => {
  const [loaded] = specsOf([...BASE, '  b:', '    schedule: "@hourly"', '    command: echo b', '  a:', '    schedule: "*/5 * * * *"', '    timezone: Europe/Berlin',
    '    command: echo a', '    timeout: 90s', '    concurrency: replace', '    missed: skip', '    history: 5', ''].join('\n'));
  assert.deepEqual(loaded!.spec.jobs, [
    { name: 'a', schedule: '*/5 * * * *', timezone: 'Europe/Berlin', command: 'echo a', timeoutMs: 90_000, concurrency: 'replace', missed: 'skip', history: 5 },
    { name: 'b', schedule: '@hourly', timezone: 'UTC', command: 'echo b', timeoutMs: 3_600_000, concurrency: 'forbid', missed: 'run-once', history: 20 },
  ]);
});

test('jobs: a spec without jobs has no jobs key (older hashes stay)', () => {
  const [loaded] = specsOf('name: web\nimage: nginx\n');
  assert.equal('jobs' in loaded!.spec, false);
});

test('jobs: bad schedules, zones and values are positioned errors', () => {
  assert.deepEqual(problemsOf([...BASE,
    '  bad-cron:', '    schedule: "61 * * * *"', '    command: x',
    '  bad-zone:', '    schedule: "@daily"', '    timezone: Mars/Base', '    command: x',
    '  six:', '    schedule: "* * * * * *"', '    command: x',
    '  Upper:', '    schedule: "@daily"', '    command: x',
    '  no-command:', '    schedule: "@daily"', '    concurrency: sometimes', ''].join('\n')), [
    'svc.yaml:5:15 jobs.bad-cron.schedule: `61 * * * *` is not a valid schedule: Invalid value for minute: 61',
    'svc.yaml:9:15 jobs.bad-zone.timezone: unknown time zone `Mars/Base`: use an IANA name such as Europe/Berlin or UTC',
    'svc.yaml:12:15 jobs.six.schedule: `* * * * * *` has 6 field(s): a schedule has 5 (minute hour day-of-month month day-of-week) or is a macro such as @hourly',
    'svc.yaml:14:3 jobs.Upper: ' + problemsOf([...BASE, '  Upper:', '    schedule: "@daily"', '    command: x', ''].join('\n'))[0]!.split('jobs.Upper: ')[1],
    'svc.yaml:18:5 jobs.no-command.command: missing required key `command`',
    'svc.yaml:19:18 jobs.no-command.concurrency: `sometimes` is not one of `forbid`, `allow`, `replace`',
  ]);
});

test('jobs: a change of jobs only is not an instance change', () => {
  const [a] = specsOf([...BASE, '  x:', '    schedule: "@daily"', '    command: x', ''].join('\n'));
  const [b] = specsOf([...BASE, '  x:', '    schedule: "@hourly"', '    command: x', ''].join('\n'));
  assert.deepEqual(changedFields(a!.spec, b!.spec), []);
  assert.deepEqual(comparableSpec(a!.spec), comparableSpec(b!.spec));
});
