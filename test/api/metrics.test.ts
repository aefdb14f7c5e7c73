import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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
    assert.match(text, /^forge_deployments_total\{status="failed"\} 0$/m);
    assert.match(text, /^process_cpu_user_seconds_total /m);

    const metrics = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(metrics.status, 0, `${metrics.stdout}${metrics.stderr}`);
    const rules = spawnSync('promtool', ['check', 'rules', ALERT_RULES_FILE], { encoding: 'utf8' });
    assert.equal(rules.status, 0, `${rules.stdout}${rules.stderr}`);
    assert.match(rules.stdout, /SUCCESS: 4 rules found/);

    // Every series the Grafana dashboard queries exists in a live scrape.
    const dashboard = readFileSync(new URL('../../examples/grafana/forge.json', import.meta.url), 'utf8');
    const queried = new Set([...dashboard.matchAll(/\b((?:forge|process)_[a-z_]+?)(?:_bucket|_count)?\b[{[)"]/g)].map((m) => m[1]!));
    const exported = new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!));
    assert.deepEqual([...queried].filter((name) => !exported.has(name)), []);
    assert.ok(queried.has('process_resident_memory_bytes') && queried.size === 10, [...queried].join(' '));
  } finally {
    await h.close();
  }
});
