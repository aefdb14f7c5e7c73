// Every write path pins an image tag to its digest (api/image-pins.ts), not only
// `forge apply`: here the GitHub webhook. The registry is a map the test moves a tag
// in (the real registry and agent run in image-e2e.test.ts); the loop runs against
// the fake world provider, which records releases as the real controller does.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sign } from '@octokit/webhooks-methods';
import { apiHarness, ALL_PROVIDERS, eventually } from '../api/helpers.ts';

const SECRET = 'pin-paths-secret';
const REPO = 'acme/images';
const IMAGE = 'registry.test:5000/web:stable';
const digest = (c: string) => `sha256:${c.repeat(64)}`;

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Forge Test', '-c', 'user.email=test@forge.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' }).trim();
}

test('a webhook deploy pins the tag: the tag moved + a push is a new release; rollback runs the old digest', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'forge-pin-'));
  const bare = join(tmp, 'images.git');
  const work = join(tmp, 'work');
  git(tmp, 'init', '--quiet', '--bare', bare);
  git(tmp, 'init', '--quiet', work);
  writeFileSync(join(work, 'forge.yaml'), `name: web\nprovider: agent\nimage: ${IMAGE}\nport: 8080\n`);
  const registry = new Map([[IMAGE, digest('a')]]);
  const h = await apiHarness({
    withLoop: true, gitDeploy: { pollMs: 20, waitMs: 20_000 },
    providersConfig: { ...ALL_PROVIDERS, agent: { configured: true, pinsImages: true } },
    pinImage: async (image) => registry.get(image) ?? assert.fail(`no ${image}`),
    config: { webhookSecret: SECRET, allowedRepos: [REPO], allowedBranches: ['main'], gitUrlTemplate: `file://${tmp}/{repo}.git` },
  });
  let delivery = 0;
  const push = async (message: string) => {
    writeFileSync(join(work, 'NOTES'), message);
    git(work, 'add', '.');
    git(work, 'commit', '--quiet', '-m', message);
    git(work, 'push', '--quiet', bare, 'HEAD:refs/heads/main');
    const body = JSON.stringify({ ref: 'refs/heads/main', after: git(work, 'rev-parse', 'HEAD'), repository: { full_name: REPO }, head_commit: { message } });
    delivery += 1;
    const res = await h.app.inject({
      method: 'POST', url: '/api/v1/webhook/github', payload: body,
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': `d-${delivery}`, 'x-hub-signature-256': await sign(SECRET, body) },
    });
    assert.equal(res.statusCode, 202, res.body);
    await Promise.all(h.background);
    return h.store.deployments.get(res.json().deployment)!;
  };
  try {
    assert.equal((await push('first')).state, 'running');
    assert.equal(h.store.services.get('web')?.spec.revision, digest('a'), 'the webhook pins the digest');

    registry.set(IMAGE, digest('b'));
    assert.equal((await push('tag moved')).state, 'running');
    const moved = h.store.services.get('web')!;
    assert.deepEqual([moved.generation, moved.spec.revision], [2, digest('b')], 'the moved tag is a new release');
    await eventually(() => (h.store.releases.get('web', 2)?.outcome === 'succeeded' ? true : undefined));

    const back = await h.app.inject({ method: 'POST', url: '/api/compute/services/web/rollback', headers: h.auth(), payload: { to: 1 } });
    assert.equal(back.statusCode, 200, back.body);
    assert.equal(h.store.services.get('web')?.spec.revision, digest('a'), 'the rollback runs the old digest, not what the tag names now');
  } finally {
    await h.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});
