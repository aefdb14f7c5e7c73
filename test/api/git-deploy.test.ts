// A push to a real (local, bare) git repository, end to end: webhook → clone at
// the commit → strict validation → apply as git:<repo>@<branch> → running.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sign } from '@octokit/webhooks-methods';
import { packBundle } from '../../specs/bundle.ts';
import { apiHarness, eventually } from './helpers.ts';

const SECRET = 'git-deploy-secret';
const REPO = 'acme/shop';

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Forge Test', '-c', 'user.email=test@forge.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' }).trim();
}

test('a push to a bare repo deploys examples/node-hello; a bad forge.yaml fails with positions and writes nothing', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'forge-git-'));
  const bare = join(tmp, 'shop.git');
  const work = join(tmp, 'work');
  git(tmp, 'init', '--quiet', '--bare', bare);
  git(tmp, 'init', '--quiet', work);
  for (const file of ['forge.yaml', 'server.js', 'package.json']) copyFileSync(join('examples/node-hello', file), join(work, file));
  git(work, 'add', '.');
  git(work, 'commit', '--quiet', '-m', 'node-hello');
  git(work, 'push', '--quiet', bare, 'HEAD:refs/heads/main');
  const goodSha = git(work, 'rev-parse', 'HEAD');

  const h = await apiHarness({
    withLoop: true, gitDeploy: { pollMs: 20, waitMs: 20_000 },
    config: { webhookSecret: SECRET, allowedRepos: [REPO], allowedBranches: ['main'], gitUrlTemplate: `file://${tmp}/{repo}.git` },
  });
  let delivery = 0;
  const push = async (sha: string) => {
    const body = JSON.stringify({ ref: 'refs/heads/main', after: sha, repository: { full_name: REPO }, head_commit: { message: 'x' } });
    delivery += 1;
    const res = await h.app.inject({
      method: 'POST', url: '/api/v1/webhook/github', payload: body,
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': `d-${delivery}`, 'x-hub-signature-256': await sign(SECRET, body) },
    });
    assert.equal(res.statusCode, 202);
    await Promise.all(h.background);
    return h.store.deployments.get(res.json().deployment)!;
  };
  try {
    const good = await push(goodSha);
    assert.deepEqual([good.state, good.message], ['running', '1 service(s) running (1 changed)']);
    const row = h.store.services.get('node-hello')!;
    assert.equal(row.source, `git:${REPO}@main`);
    assert.equal(row.spec.run?.command, 'node server.js');
    assert.equal(row.spec.sourceDir, join(h.dir, 'checkouts', 'acme_shop', goodSha));
    // The checkout ships as a bundle: agents fetch it by digest and never read the control plane's checkout.
    const packed = await packBundle(row.spec.sourceDir!);
    assert.equal(row.spec.revision, packed.digest);
    assert.equal((await h.app.inject({ method: 'HEAD', url: `/api/v1/bundles/${packed.digest}`, headers: h.auth() })).statusCode, 200);
    await eventually(() => (h.store.status.get('node-hello')?.phase === 'running' ? true : undefined));

    writeFileSync(join(work, 'forge.yaml'), 'name: node-hello\nrun:\n  command: node server.js\nport: eighty\n---\nname: Extra_Service\nimage: a\n');
    git(work, 'commit', '--quiet', '-am', 'break it');
    git(work, 'push', '--quiet', bare, 'HEAD:refs/heads/main');
    const bad = await push(git(work, 'rev-parse', 'HEAD'));
    assert.equal(bad.state, 'failed');
    assert.equal(bad.message, [
      `invalid specs in ${REPO}@${bad.sha.slice(0, 12)}:`,
      'forge.yaml:4:7 port: should be an integer',
      "forge.yaml:6:7 name: `Extra_Service` is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit",
    ].join('\n'));
    assert.deepEqual(h.store.services.list().map((r) => r.name), ['node-hello'], 'no desired row from the bad push');
    assert.equal(h.store.services.get('node-hello')!.generation, 1, 'the running service was not touched');

    const missing = await push('0123456789abcdef0123456789abcdef01234567');
    assert.equal(missing.state, 'failed');
    assert.match(missing.message!, /^refused: 0123456789ab is not on branch main of acme\/shop \(its head is [0-9a-f]{12}\)$/);
  } finally {
    await h.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a replayed old push (fresh delivery id) never moves the branch backwards; the payload clone_url is ignored', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'forge-git-'));
  const bare = join(tmp, 'shop.git');
  const evil = join(tmp, 'evil.git');
  const work = join(tmp, 'work');
  const evilWork = join(tmp, 'evil-work');
  git(tmp, 'init', '--quiet', '--bare', bare);
  git(tmp, 'init', '--quiet', '--bare', evil);
  git(tmp, 'init', '--quiet', work);
  git(tmp, 'init', '--quiet', evilWork);
  const spec = (image: string) => `name: shop\nimage: ${image}\nport: 8080\n`;
  writeFileSync(join(work, 'forge.yaml'), spec('shop:v1'));
  git(work, 'add', '.');
  git(work, 'commit', '--quiet', '-m', 'v1');
  git(work, 'push', '--quiet', bare, 'HEAD:refs/heads/main');
  const v1 = git(work, 'rev-parse', 'HEAD');
  writeFileSync(join(evilWork, 'forge.yaml'), spec('evil:latest'));
  git(evilWork, 'add', '.');
  git(evilWork, 'commit', '--quiet', '-m', 'evil');
  git(evilWork, 'push', '--quiet', evil, 'HEAD:refs/heads/main');
  const evilSha = git(evilWork, 'rev-parse', 'HEAD');

  // The clone URL comes from FORGE_GIT_URL_TEMPLATE (a local path: allowed only in development mode).
  const h = await apiHarness({
    // A plain local path this time (a full clone, not a shallow one): allowed only in development mode.
    config: { webhookSecret: SECRET, allowedRepos: [REPO], allowedBranches: ['main'], gitUrlTemplate: `${tmp}/{repo}.git` },
    gitDeploy: { pollMs: 20, waitMs: 50 },
  });
  let delivery = 0;
  const push = async (sha: string, cloneUrl = 'https://github.com/acme/shop.git') => {
    const body = JSON.stringify({ ref: 'refs/heads/main', after: sha, repository: { full_name: REPO, clone_url: cloneUrl }, head_commit: { message: 'x' } });
    delivery += 1;
    const res = await h.app.inject({
      method: 'POST', url: '/api/v1/webhook/github', payload: body,
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': `r-${delivery}`, 'x-hub-signature-256': await sign(SECRET, body) },
    });
    assert.equal(res.statusCode, 202);
    await Promise.all(h.background);
    return h.store.deployments.get(res.json().deployment)!;
  };
  try {
    // The payload names another repository's URL: it is not used, the configured one is.
    const first = await push(v1, `file://${evil}`);
    assert.equal(first.sha, v1);
    assert.equal(h.store.services.get('shop')!.spec.image, 'shop:v1');
    const fromEvil = await push(evilSha, `file://${evil}`);
    assert.equal(fromEvil.state, 'failed');
    assert.match(fromEvil.message!, /is not on branch main of acme\/shop/);
    assert.equal(h.store.services.get('shop')!.spec.image, 'shop:v1');

    writeFileSync(join(work, 'forge.yaml'), spec('shop:v2'));
    git(work, 'commit', '--quiet', '-am', 'v2');
    git(work, 'push', '--quiet', bare, 'HEAD:refs/heads/main');
    const v2 = git(work, 'rev-parse', 'HEAD');
    await push(v2);
    assert.equal(h.store.services.get('shop')!.spec.image, 'shop:v2');

    // The attack: v1's signed body sent again with a fresh delivery id.
    const replay = await push(v1);
    assert.equal(replay.state, 'failed');
    assert.equal(replay.message,
      `refused: ${v1.slice(0, 12)} is older than ${v2.slice(0, 12)}, already deployed from acme/shop@main; a webhook never moves a branch backwards (roll back with \`forge rollback\`)`);
    assert.equal(h.store.services.get('shop')!.spec.image, 'shop:v2', 'the newer release keeps serving');

    // A push that is not the head but newer than what is deployed is still deployed.
    writeFileSync(join(work, 'forge.yaml'), spec('shop:v3'));
    git(work, 'commit', '--quiet', '-am', 'v3');
    const v3 = git(work, 'rev-parse', 'HEAD');
    writeFileSync(join(work, 'forge.yaml'), spec('shop:v4'));
    git(work, 'commit', '--quiet', '-am', 'v4');
    git(work, 'push', '--quiet', bare, 'HEAD:refs/heads/main');
    await push(v3);
    assert.equal(h.store.services.get('shop')!.spec.image, 'shop:v3');
  } finally {
    await h.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});
