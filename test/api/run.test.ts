// POST /api/compute/services/:id/run through inject(): bad input is a 4xx with its code, the
// run goes to the service's current release through its provider's runOneOff, its output and
// exit code come back as newline-delimited JSON, and a secret value never shows in the stream.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { OneOffRequest, Provider } from '../../providers/types.ts';
import { shellJoin } from '../../api/routes/run.ts';
import { apiHarness, type ApiHarness } from './helpers.ts';

const CANARY = 'canary-run-5d1e';

describe('run route', () => {
  let h: ApiHarness;
  const seen: OneOffRequest[] = [];
  const provider = {
    name: 'fly', capabilities: { updateInPlace: true, oneOffs: true },
    async runOneOff(request: OneOffRequest, ctx: { secrets: Record<string, string>; onLine?(l: string): void }) {
      seen.push(request);
      ctx.onLine?.('hello from the one-off');
      ctx.onLine?.(`masked: ${ctx.secrets.TOKEN === CANARY ? '***' : 'no secret'}`);
      return { exitCode: 7, lastLines: [], message: 'exited with code 7' };
    },
  } as unknown as Provider;
  before(async () => {
    h = await apiHarness({ oneOffs: { provider: () => provider, secretsFor: () => ({ TOKEN: CANARY }) } });
  });
  after(() => h.close());

  const post = (url: string, payload: unknown, headers = h.auth()) => h.app.inject({ method: 'POST', url, headers, payload: payload as object });

  test('bad input: 4xx with codes, never a 500', async () => {
    assert.equal((await post('/api/compute/services/web/run', { command: ['true'] }, {})).statusCode, 401);
    const missing = await post('/api/compute/services/nope/run', { command: ['true'] });
    assert.deepEqual([missing.statusCode, missing.json().error], [404, 'E_NOT_FOUND']);
    assert.equal((await post('/api/compute/services', { name: 'web', image: 'app:1', envVars: { TOKEN: CANARY } })).statusCode, 201);
    for (const body of [{}, { command: [] }, { command: 'ls' }, { command: ['ls'], extra: 1 }, { command: ['ls'], timeout: 'soon' }]) {
      const res = await post('/api/compute/services/web/run', body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.match(res.json().error, /^E_/);
    }
    const big = await post('/api/compute/services/web/run', { command: ['ls'], timeout: '25h' });
    assert.deepEqual([big.statusCode, big.json().error], [400, 'E_BAD_REQUEST']);
    const unreleased = await post('/api/compute/services/web/run', { command: ['ls'] });
    assert.deepEqual([unreleased.statusCode, unreleased.json().error], [409, 'E_CONFLICT']);
    assert.equal(seen.length, 0);
  });

  test('streams the output and the exit code of the current release\'s one-off', async () => {
    const row = h.store.services.get('web')!;
    h.store.releases.record({ name: 'web', generation: row.generation, hash: row.hash, spec: row.spec, revision: null });
    h.store.releases.setOutcome('web', row.generation, 'succeeded');
    const res = await post('/api/compute/services/web/run', { command: ['sh', '-c', "echo it's here"], timeout: '2m' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /application\/x-ndjson/);
    const lines = res.body.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.slice(0, 2), [{ line: 'hello from the one-off' }, { line: 'masked: ***' }]);
    assert.equal(lines[2]!.exitCode, 7);
    assert.doesNotMatch(res.body, new RegExp(CANARY));
    assert.deepEqual({ command: seen[0]!.command, timeoutMs: seen[0]!.timeoutMs, purpose: seen[0]!.purpose, generation: seen[0]!.generation },
      { command: `sh -c 'echo it'\\''s here'`, timeoutMs: 120_000, purpose: 'run', generation: row.generation });
  });

  test('shell quoting keeps every argument one word', () => {
    assert.equal(shellJoin(['npm', 'run', 'db:seed', '--', '--name=a b', "it's", '$HOME']), `npm run db:seed -- '--name=a b' 'it'\\''s' '$HOME'`);
  });
});
