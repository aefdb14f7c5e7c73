import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { ALERT_RULES_FILE } from './alerts-path.ts';
import { apiHarness } from './helpers.ts';

test('/metrics: route-pattern labels, store gauges, optional bearer token; promtool accepts the scrape and the rules', async () => {
  const h = await apiHarness({ config: { metricsToken: 'scrape-token' } });
  try {
    h.store.agents.register({ name: 'a1', tokenHash: 'h1', addresses: [], labels: {}, capacity: { cpus: 2, memoryBytes: 1 << 30 } }, Date.now());
    await h.app.inject({ method: 'POST', url: '/api/compute/services', headers: h.auth(), payload: { name: 'web', image: 'a' } });
    await h.app.inject({ method: 'GET', url: '/api/compute/services/web', headers: h.auth() });
    assert.equal((await h.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
    assert.equal((await h.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong' } })).statusCode, 401);
    const res = await h.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer scrape-token' } });
    assert.equal(res.statusCode, 200);
    const text = res.body;
    assert.match(text, /^forge_http_request_duration_seconds_count\{method="GET",route="\/api\/compute\/services\/:id",status_code="200"\} 1$/m);
    assert.match(text, /^forge_http_request_duration_seconds_count\{method="POST",route="\/api\/compute\/services",status_code="201"\} 1$/m);
    assert.doesNotMatch(text, /route="\/api\/compute\/services\/web"/);
    assert.match(text, /^forge_agents_online 1$/m);
    assert.match(text, /^forge_services\{phase="pending"\} 1$/m);
    assert.match(text, /^forge_services\{phase="creating"\} 0$/m);
    assert.match(text, /^forge_reconcile_total\{result="error"\} 0$/m);
    assert.match(text, /^forge_releases_total\{status="failed"\} 0$/m);
    assert.match(text, /^forge_tasks\{status="queued"\} 0$/m);
    assert.match(text, /^forge_deployments\{status="running"\} 0$/m);
    assert.match(text, /^process_cpu_user_seconds_total /m);

    const metrics = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(metrics.status, 0, `${metrics.stdout}${metrics.stderr}`);
    const rules = spawnSync('promtool', ['check', 'rules', ALERT_RULES_FILE], { encoding: 'utf8' });
    assert.equal(rules.status, 0, `${rules.stdout}${rules.stderr}`);
    assert.match(rules.stdout, /SUCCESS: 6 rules found/);

    // Every series the Grafana dashboard queries exists in a live scrape.
    const dashboard = readFileSync(new URL('../../examples/grafana/forge.json', import.meta.url), 'utf8');
    const queried = new Set([...dashboard.matchAll(/\b((?:forge|process)_[a-z_]+?)(?:_bucket|_count)?\b[{[)"]/g)].map((m) => m[1]!));
    const exported = new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!));
    assert.deepEqual([...queried].filter((name) => !exported.has(name)), []);
    assert.ok(queried.has('process_resident_memory_bytes') && queried.size === 11, [...queried].join(' '));
  } finally {
    await h.close();
  }
});

test('forge_tasks{status} and forge_deployments{status} are the task and deployment rows by current status, as the database counts them', async () => {
  const h = await apiHarness();
  try {
    const now = Date.now();
    h.store.agents.register({ name: 'a1', tokenHash: 'h1', addresses: [], labels: {}, capacity: { cpus: 2, memoryBytes: 1 << 30 } }, now);
    const agent = h.store.agents.list()[0]!.id;
    const task = (kind: 'build' | 'run' | 'stop', replica: number) => h.store.tasks.enqueue({ kind, service: 'web', generation: 1, replica });
    // Succeeded, failed, cancelled, running, claimed and queued tasks of every kind.
    for (const [kind, end] of [['build', 'ok'], ['run', 'ok'], ['run', 'ok'], ['stop', 'ok'], ['run', 'fail'], ['build', 'run'], ['run', 'claim']] as const) {
      task(kind, 0);
      const claimed = h.store.tasks.claim(agent, now, 60_000, [kind])!;
      if (end === 'claim') continue;
      h.store.tasks.start(claimed.id, agent, now, 60_000);
      if (end !== 'run') h.store.tasks.complete(claimed.id, agent, null, end === 'ok');
    }
    h.store.tasks.cancel(task('stop', 1).id);
    task('run', 2);
    task('build', 3);
    const deploys = ['running', 'running', 'failed', 'building', 'pending'] as const;
    deploys.forEach((state, i) => {
      const row = h.store.deployments.create({ deliveryId: `d${i}`, repo: 'o/r', branch: 'main', sha: `s${i}` })!;
      h.store.deployments.setState(row.id, state);
    });

    const text = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    const db = new Database(h.store.path, { readonly: true });
    try {
      const counted = (table: string) => new Map((db.prepare(`SELECT state, count(*) AS n FROM ${table} GROUP BY state`).all() as { state: string; n: number }[]).map((r) => [r.state, r.n]));
      const tasks = counted('tasks');
      assert.equal([...tasks.values()].reduce((a, b) => a + b, 0), 10);
      for (const status of ['queued', 'claimed', 'running', 'succeeded', 'failed', 'cancelled']) {
        assert.match(text, new RegExp(`^forge_tasks\\{status="${status}"\\} ${tasks.get(status) ?? 0}$`, 'm'), status);
      }
      const deployments = counted('deployments');
      for (const status of ['pending', 'building', 'deploying', 'running', 'failed']) {
        assert.match(text, new RegExp(`^forge_deployments\\{status="${status}"\\} ${deployments.get(status) ?? 0}$`, 'm'), status);
      }
      assert.equal(deployments.get('running'), 2);
    } finally {
      db.close();
    }
    assert.match(text, /^# TYPE forge_tasks gauge$/m);
    assert.match(text, /^# TYPE forge_deployments gauge$/m);
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(lint.status, 0, `${lint.stdout}${lint.stderr}`);
  } finally {
    await h.close();
  }
});
