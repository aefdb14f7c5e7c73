// The CLI with several replica URLs (FORGE_URL / --url / a context's URL as a
// comma-separated list): it tries them in order when one is unreachable or answers
// 5xx, and never sends a non-idempotent POST to a second replica once the first may
// have seen it. The healthy replica is a real API; the broken ones are plain loopback servers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, resolveTarget } from '../../cli/client.ts';
import { isIdempotent } from '../../cli/idempotent.ts';
import { runCli } from '../../cli/index.ts';
import { freePort } from '../e2e/stack.ts';
import { cliHarness } from './helpers.ts';

type Behaviour = 'error-503' | 'hang-up' | 'ok-empty' | 'silent' | 'registry-502' | 'proxy-502' | 'fenced-503';

/** A loopback server recording each request's method and path, answering as `behaviour` says. */
async function fake(behaviour: Behaviour): Promise<{ url: string; seen: string[]; close: () => Promise<void> }> {
  const seen: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      if (behaviour === 'silent') return; // takes the request, never answers (a paused replica)
      if (behaviour === 'hang-up') req.socket.destroy();
      else if (behaviour === 'registry-502') res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'E_REGISTRY_UNAVAILABLE', message: 'the registry did not answer' }));
      else if (behaviour === 'proxy-502') res.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>');
      else if (behaviour === 'fenced-503') res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'E_FENCED', message: 'leadership over' }));
      else if (behaviour === 'error-503') res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'E_PROVIDER', message: 'replica shutting down' }));
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    seen,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

test('isIdempotent: GET/PUT/DELETE, and only the POSTs that are idempotent by design', () => {
  const cases: Array<[Parameters<typeof isIdempotent>[0], string, boolean]> = [
    ['GET', '/api/compute/services', true],
    ['HEAD', '/api/v1/bundles/sha256:ab', true],
    ['PUT', '/api/v1/registries/ghcr.io', true],
    ['DELETE', '/api/compute/services/web', true],
    ['POST', '/api/v1/apply', true],
    ['POST', '/api/compute/services/web/start', true],
    ['POST', '/api/compute/services/web/stop', true],
    ['POST', '/api/v1/agents/agt_1/revoke', true],
    ['POST', '/api/compute/services', false],
    ['POST', '/api/compute/services/deploy', false],
    ['POST', '/api/compute/services/web/restart', false],
    ['POST', '/api/compute/services/web/rollback', false],
    ['POST', '/api/compute/services/web/run', false],
    ['POST', '/api/v1/jobs/web/nightly/trigger', false],
    ['POST', '/api/v1/applyx', false],
    ['PATCH', '/api/compute/services/web', false],
  ];
  for (const [method, path, expected] of cases) assert.equal(isIdempotent(method, path), expected, `${method} ${path}`);
});

test('resolveTarget: a list of URLs is normalized, and a profile key goes with the same list', () => {
  const home = mkdtempSync(join(tmpdir(), 'forge-cli-failover-'));
  try {
    assert.deepEqual(resolveTarget({ env: { HOME: home, FORGE_URL: 'http://a:8080/, http://b:8080' } }), { url: 'http://a:8080,http://b:8080' });
    mkdirSync(join(home, '.config', 'forge'), { recursive: true });
    writeFileSync(join(home, '.config', 'forge', 'profile.json'), JSON.stringify({ url: 'http://a:8080,http://b:8080/', apiKey: 'ik_profile' }));
    assert.deepEqual(resolveTarget({ env: { HOME: home } }), { url: 'http://a:8080,http://b:8080', apiKey: 'ik_profile' });
    // A different list is a different control plane as far as the saved key goes.
    assert.deepEqual(resolveTarget({ env: { HOME: home, FORGE_URL: 'http://a:8080,http://c:8080' } }), { url: 'http://a:8080,http://c:8080' });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('a command goes through the next replica when the first is down or answers 5xx', async () => {
  const h = await cliHarness({});
  const sick = await fake('error-503');
  const down = `http://127.0.0.1:${await freePort()}`;
  try {
    const direct = await h.run(['list', '--json']);
    assert.equal(direct.exitCode, 0, direct.stderr);
    for (const first of [down, sick.url]) {
      const viaList = await h.run(['list', '--json'], { env: { FORGE_URL: `${first},${h.url}` } });
      assert.deepEqual(viaList, direct, first);
    }
    // --url takes a list too.
    const viaFlag = await runCli(['--url', `${down},${h.url}`, 'list', '--json'], h.deps({ env: { FORGE_URL: 'http://127.0.0.1:9' } }));
    assert.deepEqual(viaFlag, direct);
    assert.deepEqual(sick.seen, ['GET /api/compute/services'], 'asked once, then passed over');
  } finally {
    await sick.close();
    await h.close();
  }
});

test('a 5xx carrying a Forge error code (other than 503) is a real answer: not retried on the other replicas; 503 and a code-less 5xx are', async () => {
  const registry = await fake('registry-502');
  const proxy = await fake('proxy-502');
  const fenced = await fake('fenced-503');
  const healthy = await fake('ok-empty');
  try {
    const answered = createClient({ url: `${registry.url},${healthy.url}` });
    await assert.rejects(answered.call('GET', '/api/compute/services'), (e: { code?: string }) => e.code === 'E_REGISTRY_UNAVAILABLE');
    await answered.close();
    assert.deepEqual(healthy.seen, [], 'the registry\'s answer was not asked again elsewhere');
    for (const first of [proxy, fenced]) {
      const client = createClient({ url: `${first.url},${healthy.url}` });
      assert.deepEqual(await client.call('GET', '/api/compute/services'), {});
      await client.close();
    }
    assert.deepEqual([proxy.seen.length, fenced.seen.length, healthy.seen.length], [1, 1, 2]);
  } finally {
    for (const f of [registry, proxy, fenced, healthy]) await f.close();
  }
});

test('every replica unreachable: one error naming them all', async () => {
  const home = mkdtempSync(join(tmpdir(), 'forge-cli-failover-'));
  const [a, b] = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
  try {
    const result = await runCli(['list'], { cwd: home, env: { HOME: home, FORGE_URL: `${a},${b}` } });
    assert.deepEqual(result, { exitCode: 1, stdout: '', stderr: `forge list: E_PROVIDER: cannot reach Forge at any of ${a}, ${b}: start it with \`forge server\` or set FORGE_URL\n` });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('a non-idempotent POST is never sent to a second replica once the first may have seen it; an idempotent one is', async () => {
  const home = mkdtempSync(join(tmpdir(), 'forge-cli-failover-'));
  const sick = await fake('error-503');
  const silent = await fake('hang-up');
  const second = await fake('ok-empty');
  const down = `http://127.0.0.1:${await freePort()}`;
  // What a command reads back afterwards (start's wait) does not matter here: only its writes.
  const posts = (seen: string[]) => seen.filter((line) => line.startsWith('POST '));
  const cli = (url: string, argv: string[]) => runCli(argv, { cwd: home, env: { HOME: home, FORGE_URL: url, FORGE_API_KEY: 'ik_test' } });
  try {
    // restart is a new rollout each time: a 5xx or a lost reply from the first replica ends it there.
    const after503 = await cli(`${sick.url},${second.url}`, ['restart', 'web', '--no-wait']);
    assert.equal(after503.exitCode, 1);
    assert.match(after503.stderr, /replica shutting down/);
    const afterHangUp = await cli(`${silent.url},${second.url}`, ['restart', 'web', '--no-wait']);
    assert.equal(afterHangUp.exitCode, 1);
    assert.deepEqual(posts(second.seen), [], 'the second replica never saw a restart');
    // A restart no replica saw (connection refused) may go on to the next.
    await cli(`${down},${second.url}`, ['restart', 'web', '--no-wait']);
    assert.deepEqual(posts(second.seen), ['POST /api/compute/services/web/restart']);
    // start sets the desired state: repeating it is harmless, so a 5xx moves it on.
    await cli(`${sick.url},${second.url}`, ['start', 'web']);
    assert.deepEqual(posts(second.seen).slice(1), ['POST /api/compute/services/web/start']);
    assert.deepEqual(posts(sick.seen), ['POST /api/compute/services/web/restart', 'POST /api/compute/services/web/start']);
  } finally {
    await Promise.all([sick.close(), silent.close(), second.close()]);
    rmSync(home, { recursive: true, force: true });
  }
});

test('forge apply of a source folder: the bundle upload and the apply go through the next replica when the first is down or answers 5xx', async () => {
  const h = await cliHarness({});
  const sick = await fake('error-503');
  const down = `http://127.0.0.1:${await freePort()}`;
  try {
    const app = join(h.home, 'web');
    mkdirSync(app);
    writeFileSync(join(app, 'server.js'), 'console.log("v1")\n');
    writeFileSync(join(app, 'forge.yaml'), 'name: web\nprovider: agent\nsource: .\nbuild:\n  commands: []\nrun:\n  command: node server.js\n');
    const viaDown = await h.run(['apply', '-f', join(app, 'forge.yaml'), '--no-wait'], { env: { FORGE_URL: `${down},${h.url}` } });
    assert.equal(viaDown.exitCode, 0, viaDown.stderr);
    assert.match(viaDown.stderr, /web: uploading bundle/);
    const generation = h.api.store.services.get('web')!.generation;
    writeFileSync(join(app, 'server.js'), 'console.log("v2")\n');
    const viaSick = await h.run(['apply', '-f', join(app, 'forge.yaml'), '--no-wait'], { env: { FORGE_URL: `${sick.url},${h.url}` } });
    assert.equal(viaSick.exitCode, 0, viaSick.stderr);
    assert.equal(h.api.store.services.get('web')!.generation, generation + 1, 'one new release, not two');
    assert.ok(sick.seen.some((line) => line.startsWith('HEAD /api/v1/bundles/')), 'the upload asked the sick replica first');
    assert.ok(sick.seen.includes('POST /api/v1/apply'), 'the apply asked the sick replica first');
  } finally {
    await sick.close();
    await h.close();
  }
});

test('a replica that takes the request and never answers: an idempotent request goes to the next one after the reply timeout; a non-idempotent one fails with E_TIMEOUT', { timeout: 20_000 }, async () => {
  const silent = await fake('silent');
  const good = await fake('ok-empty');
  const client = createClient({ url: `${silent.url},${good.url}`, replyTimeoutMs: 300 });
  try {
    assert.deepEqual(await client.call('GET', '/api/compute/services'), {});
    assert.deepEqual([silent.seen, good.seen], [['GET /api/compute/services'], ['GET /api/compute/services']]);
    assert.equal(client.url, good.url, 'it stays on the replica that answered');

    const fresh = createClient({ url: `${silent.url},${good.url}`, replyTimeoutMs: 300 });
    try {
      await assert.rejects(fresh.call('POST', '/api/compute/services', { name: 'web' }), (e: Error & { code?: string }) =>
        e.code === 'E_TIMEOUT' && e.message.includes(silent.url) && /no reply/.test(e.message));
      assert.deepEqual(good.seen, ['GET /api/compute/services'], 'the create was not sent to a second replica');
    } finally {
      await fresh.close();
    }
  } finally {
    await client.close();
    await silent.close();
    await good.close();
  }
});
