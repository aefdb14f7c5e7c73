import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { sign } from '@octokit/webhooks-methods';
import { decideCommit, decidePush, verifyGithubSignature, type CommitFacts } from '../../api/webhook-decide.ts';
import type { PushTarget } from '../../api/webhook-decide.ts';
import { apiHarness, type ApiHarness } from './helpers.ts';

const require = createRequire(import.meta.url);
const examples = require('@octokit/webhooks-examples') as { name: string; examples: Record<string, unknown>[] }[];
const pushExamples = examples.find((e) => e.name === 'push')!.examples;
/** A real branch push from GitHub's examples: Codertocat/Hello-World, refs/heads/master. */
const BRANCH_PUSH = pushExamples.find((e) => e.ref === 'refs/heads/master' && e.deleted === false)!;
const TAG_PUSH = pushExamples.find((e) => String(e.ref).startsWith('refs/tags/') && e.deleted === false)!;

const SECRET = 'webhook-secret-for-tests';

test("GitHub's published test vector verifies; one changed byte does not", () => {
  const secret = "It's a Secret to Everybody";
  const signature = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
  assert.equal(verifyGithubSignature(secret, Buffer.from('Hello, World!'), signature), true);
  assert.equal(verifyGithubSignature(secret, Buffer.from('Hello, World?'), signature), false);
  assert.equal(verifyGithubSignature(secret, Buffer.from('Hello, World!'), signature.replace('sha256=', 'sha1=')), false);
  assert.equal(verifyGithubSignature(secret, Buffer.from('Hello, World!'), undefined), false);
});

test('decidePush table', () => {
  const policy = { allowedRepos: ['codertocat/hello-world'], allowedBranches: ['master'] };
  const sha = BRANCH_PUSH.after as string;
  const cases: [string, unknown, string][] = [
    ['branch push', BRANCH_PUSH, 'deploy'],
    ['tag push', TAG_PUSH, 'ignore'],
    ['other repo', { ...BRANCH_PUSH, repository: { full_name: 'evil/repo', clone_url: 'x' } }, 'refuse'],
    ['other branch', { ...BRANCH_PUSH, ref: 'refs/heads/dev' }, 'refuse'],
    ['short sha', { ...BRANCH_PUSH, after: 'abc' }, 'invalid'],
    ['deleted', { ...BRANCH_PUSH, after: '0'.repeat(40), deleted: true }, 'ignore'],
    ['not an object', [1, 2], 'invalid'],
  ];
  for (const [label, payload, kind] of cases) assert.equal(decidePush(payload, policy).kind, kind, label);
  const decision = decidePush(BRANCH_PUSH, policy);
  assert.deepEqual(decision, {
    kind: 'deploy',
    target: { repo: 'codertocat/hello-world', branch: 'master', sha, cloneUrl: 'https://github.com/codertocat/hello-world.git', message: 'Initial commit' },
  });
});

test('decidePush builds the clone URL from the template and the allowlisted name, never the payload', () => {
  const policy = { allowedRepos: ['Codertocat/Hello-World'], allowedBranches: ['master'], gitUrlTemplate: 'ssh://git@git.example.com/{owner}/{repo}.git' };
  const hostile = { ...BRANCH_PUSH, repository: { full_name: 'codertocat/hello-world', clone_url: 'http://127.0.0.1:2019/config/' } };
  const decision = decidePush(hostile, policy);
  assert.equal(decision.kind, 'deploy');
  assert.equal(decision.kind === 'deploy' && decision.target.cloneUrl, 'ssh://git@git.example.com/Codertocat/Hello-World.git');
  assert.equal(decision.kind === 'deploy' && decision.target.repo, 'Codertocat/Hello-World', 'the allowlist spelling');
  const noUrl = decidePush({ ...BRANCH_PUSH, repository: { full_name: 'Codertocat/Hello-World' } }, policy);
  assert.equal(noUrl.kind, 'deploy', 'clone_url is not needed');
});

test('decideCommit: head, newer, older (replay), diverged and foreign commits', () => {
  const base: CommitFacts = { repo: 'a/b', branch: 'main', sha: 'c'.repeat(40), head: 'd'.repeat(40), onBranch: true, deployed: 'b'.repeat(40), deployedIsAncestor: false, olderThanDeployed: false };
  const cases: [string, Partial<CommitFacts>, string][] = [
    ['the head is deployed even if older', { sha: 'd'.repeat(40) }, 'deploy'],
    ['newer than deployed', { deployedIsAncestor: true }, 'deploy'],
    ['nothing deployed yet', { deployed: null }, 'deploy'],
    ['the same commit again', { deployed: 'c'.repeat(40) }, 'deploy'],
    ['older than deployed', { olderThanDeployed: true }, 'refused: cccccccccccc is older than bbbbbbbbbbbb, already deployed from a/b@main; a webhook never moves a branch backwards (roll back with `forge rollback`)'],
    ['diverged', {}, 'refused: cccccccccccc does not descend from bbbbbbbbbbbb, already deployed from a/b@main; a webhook never moves a branch backwards (roll back with `forge rollback`)'],
    ['not on the branch', { onBranch: false, deployed: null }, 'refused: cccccccccccc is not on branch main of a/b (its head is dddddddddddd)'],
  ];
  for (const [label, change, expected] of cases) {
    const decision = decideCommit({ ...base, ...change });
    assert.equal(decision.kind === 'refuse' ? decision.reason : decision.kind, expected, label);
  }
});

describe('POST /api/v1/webhook/github', () => {
  let h: ApiHarness;
  const deployed: PushTarget[] = [];
  before(async () => {
    h = await apiHarness({
      config: { webhookSecret: SECRET, allowedRepos: ['Codertocat/Hello-World'], allowedBranches: ['master'] },
      gitDeployer: async (_deployment, target) => { deployed.push(target); },
    });
  });
  after(() => h.close());

  async function deliver(payload: unknown, headers: Record<string, string> = {}, secret = SECRET) {
    const body = JSON.stringify(payload);
    return h.app.inject({
      method: 'POST', url: '/api/v1/webhook/github', payload: body,
      headers: {
        'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
        'x-hub-signature-256': await sign(secret, body), ...headers,
      },
    });
  }

  test('ping → 200', async () => {
    const res = await deliver({ zen: 'Design for failure.', hook_id: 1 }, { 'x-github-event': 'ping' });
    assert.deepEqual([res.statusCode, res.json()], [200, { ok: true, event: 'ping' }]);
  });

  test('a real push example, signed by @octokit/webhooks-methods, is accepted with 202 and deployed once', async () => {
    const res = await deliver(BRANCH_PUSH);
    assert.equal(res.statusCode, 202);
    const { status, deployment } = res.json();
    assert.equal(status, 'accepted');
    await Promise.all(h.background);
    assert.deepEqual(deployed.map((t) => [t.repo, t.branch, t.sha]), [['Codertocat/Hello-World', 'master', BRANCH_PUSH.after]]);
    const row = h.store.deployments.get(deployment)!;
    assert.deepEqual([row.state, row.repo, row.branch, row.sha], ['pending', 'Codertocat/Hello-World', 'master', BRANCH_PUSH.after]);
    const listed = await h.app.inject({ method: 'GET', url: '/api/v1/deployments', headers: h.auth() });
    assert.deepEqual(listed.json().deployments.map((d: { id: string }) => d.id), [deployment]);
    const one = await h.app.inject({ method: 'GET', url: `/api/v1/deployments/${deployment}`, headers: h.auth() });
    assert.equal(one.json().deliveryId, '72d3162e-cc78-11e3-81ab-4c9367dc0958');
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/deployments/dep_nope', headers: h.auth() })).statusCode, 404);

    const replay = await deliver(BRANCH_PUSH);
    assert.deepEqual([replay.statusCode, replay.json()], [202, { status: 'already received', deployment }]);
    assert.equal(deployed.length, 1, 'a redelivery is not deployed twice');
  });

  test('forged, unsigned, wrong-repo, wrong-branch, malformed and tag deliveries', async () => {
    const forged = await deliver(BRANCH_PUSH, { 'x-github-delivery': 'd-forged' }, 'not-the-secret');
    assert.deepEqual([forged.statusCode, forged.json()], [401, { error: 'E_UNAUTHORIZED', message: 'webhook signature verification failed' }]);
    const unsigned = await deliver(BRANCH_PUSH, { 'x-github-delivery': 'd-unsigned', 'x-hub-signature-256': '' });
    assert.equal(unsigned.statusCode, 401);
    const tampered = await h.app.inject({
      method: 'POST', url: '/api/v1/webhook/github', payload: JSON.stringify({ ...BRANCH_PUSH, after: 'f'.repeat(40) }),
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': 'd-t', 'x-hub-signature-256': await sign(SECRET, JSON.stringify(BRANCH_PUSH)) },
    });
    assert.equal(tampered.statusCode, 401);
    const repo = await deliver({ ...BRANCH_PUSH, repository: { ...(BRANCH_PUSH.repository as object), full_name: 'evil/repo' } }, { 'x-github-delivery': 'd-repo' });
    assert.deepEqual([repo.statusCode, repo.json()], [403, { error: 'E_FORBIDDEN', message: 'repository evil/repo is not in FORGE_ALLOWED_REPOS' }]);
    const branch = await deliver({ ...BRANCH_PUSH, ref: 'refs/heads/feature' }, { 'x-github-delivery': 'd-branch' });
    assert.deepEqual([branch.statusCode, branch.json()], [403, { error: 'E_FORBIDDEN', message: 'branch feature is not in FORGE_ALLOWED_BRANCHES' }]);
    const badSha = await deliver({ ...BRANCH_PUSH, after: 'HEAD' }, { 'x-github-delivery': 'd-sha' });
    assert.equal(badSha.statusCode, 400);
    const noDelivery = await deliver(BRANCH_PUSH, { 'x-github-delivery': '' });
    assert.equal(noDelivery.statusCode, 400);
    const tag = await deliver(TAG_PUSH, { 'x-github-delivery': 'd-tag' });
    assert.deepEqual([tag.statusCode, tag.json()], [200, { ignored: 'refs/tags/simple-tag is not a branch' }]);
    const notJson = await h.app.inject({
      method: 'POST', url: '/api/v1/webhook/github', payload: '{oops',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': await sign(SECRET, '{oops') },
    });
    assert.deepEqual([notJson.statusCode, notJson.json().error], [400, 'E_BAD_REQUEST']);
    assert.equal(deployed.length, 1);
    assert.equal(h.store.deployments.list().length, 1);
  });
});

test('without FORGE_WEBHOOK_SECRET the webhook is refused', async () => {
  const h = await apiHarness();
  try {
    const res = await h.app.inject({ method: 'POST', url: '/api/v1/webhook/github', payload: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 403);
  } finally {
    await h.close();
  }
});
