// The jobs API: authenticated, next and last runs, a job's runs, trigger with its 4xx codes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiHarness } from '../api/helpers.ts';
import { createJobScheduler } from '../../reconciler/jobs/scheduler.ts';
import { SPEC_DEFAULTS } from '../../specs/types.ts';
import { makeSpec } from '../helpers/spec.ts';
import { openStore } from '../../store/index.ts';

test('jobs API: auth, listing, runs, trigger and its error codes', async () => {
  // The scheduler and the API share one store; the harness opens it, so the scheduler is built on a second handle.
  let scheduler: ReturnType<typeof createJobScheduler> | undefined;
  const h = await apiHarness({ jobs: { trigger: (s, j) => scheduler!.trigger(s, j) } });
  const store = openStore(h.dir);
  scheduler = createJobScheduler({ store });
  try {
    const spec = makeSpec({ name: 'web', jobs: [{ name: 'report', schedule: '@hourly', command: 'echo hi', ...SPEC_DEFAULTS.job }] });
    h.store.services.upsert({ name: 'web', spec, hash: 'h1', source: 'test' });
    const call = (method: 'GET' | 'POST', url: string, auth = true) => h.app.inject({ method, url, headers: auth ? h.auth() : {} });

    const anonymous = await call('GET', '/api/v1/jobs', false);
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.json().error, 'E_UNAUTHORIZED');

    const list = await call('GET', '/api/v1/jobs?service=web');
    assert.equal(list.statusCode, 200);
    const [job] = list.json().jobs;
    assert.equal(job.name, 'web/report');
    assert.equal(job.lastRun, null);
    assert.match(job.nextRunAt, /T\d\d:00:00\.000Z$/);

    assert.equal((await call('GET', '/api/v1/jobs?service=nope')).json().error, 'E_NOT_FOUND');
    const noJob = await call('GET', '/api/v1/jobs/web/nope/runs');
    assert.equal(noJob.statusCode, 404);
    assert.match(noJob.json().message, /has no job nope \(it has report\)/);
    assert.equal((await call('GET', '/api/v1/jobs/web/report/runs?limit=0')).statusCode, 400);

    const started = await call('POST', '/api/v1/jobs/web/report/trigger');
    assert.equal(started.statusCode, 202, started.body);
    assert.equal(started.json().run.trigger, 'manual');
    assert.equal(started.json().run.state, 'pending');
    const again = await call('POST', '/api/v1/jobs/web/report/trigger');
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().error, 'E_CONFLICT');

    const runs = (await call('GET', '/api/v1/jobs/web/report/runs')).json().runs;
    assert.equal(runs.length, 1);
    assert.equal(runs[0].logs.service, 'web');
    assert.equal((await call('GET', '/api/v1/jobs')).json().jobs[0].lastRun.id, runs[0].id);
  } finally {
    store.close();
    await h.close();
  }
});
