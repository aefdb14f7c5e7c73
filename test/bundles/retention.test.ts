// Retention tied to releases: a service keeps its newest N releases (plus what
// serves and the rollback target, however old); a bundle named by a kept release
// is never pruned, one named only by pruned releases goes. Agents never prune the
// bundle of an instance they run.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { bundleSource, KEPT_BUNDLES } from '../../agent/bundle-fetch.ts';
import { createBundleStore } from '../../api/bundle-store.ts';
import { sweepRetention } from '../../api/retention.ts';
import { releaseHistory } from '../../api/startup.ts';
import { isForgeError } from '../../errors/index.ts';
import { releasesToPrune } from '../../store/release-retention.ts';
import { openStore } from '../../store/index.ts';
import { packBundle, type Bundle } from '../../specs/bundle.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import { validateSpecObject } from '../../specs/index.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'forge-retention-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function bundleOf(text: string): Promise<Bundle> {
  const dir = path.join(tmp, `src-${text}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'server.js'), `console.log(${JSON.stringify(text)})\n`);
  return packBundle(dir);
}

describe('which releases a service keeps (pure)', () => {
  const r = (generation: number, outcome: 'pending' | 'succeeded' | 'failed', hash = `h${generation}`) => ({ generation, hash, outcome });

  test('the newest N go past the cut; older ones are pruned', () => {
    const releases = [1, 2, 3, 4, 5].map((g) => r(g, 'succeeded'));
    assert.deepEqual(releasesToPrune(releases, { generation: 5, hash: 'h5' }, 3), [1, 2]);
  });

  test('the rollback target and what serves are kept however old (a run of failed releases after them)', () => {
    const releases = [r(1, 'succeeded'), r(2, 'succeeded'), r(3, 'failed'), r(4, 'failed'), r(5, 'failed'), r(6, 'pending')];
    assert.deepEqual(releasesToPrune(releases, { generation: 6, hash: 'h6' }, 2), [1, 3, 4]);
  });

  test('a rollback target with the desired spec is skipped for the one before it, as forge rollback does', () => {
    // Generation 4 rolled back to 2's spec: the target of the next rollback is 3.
    const releases = [r(1, 'succeeded'), r(2, 'succeeded', 'hA'), r(3, 'succeeded'), r(4, 'succeeded', 'hA'), r(5, 'failed'), r(6, 'failed', 'hA')];
    assert.deepEqual(releasesToPrune(releases, { generation: 6, hash: 'hA' }, 1), [1, 2, 5]);
  });

  test('a gone service keeps nothing; N below 1 still keeps the newest', () => {
    assert.deepEqual(releasesToPrune([r(1, 'succeeded'), r(2, 'failed')], null, 5), [1, 2]);
    assert.deepEqual(releasesToPrune([r(1, 'failed'), r(2, 'failed')], { generation: 2, hash: 'h2' }, 0), [1]);
  });
});

test('FORGE_RELEASE_HISTORY: a whole number ≥ 2, or a start-up error saying so', () => {
  assert.equal(releaseHistory({}), undefined);
  assert.equal(releaseHistory({ FORGE_RELEASE_HISTORY: '25' }), 25);
  for (const bad of ['1', 'ten', '-3', '2.5']) {
    assert.throws(() => releaseHistory({ FORGE_RELEASE_HISTORY: bad }), (error: unknown) =>
      isForgeError(error) && error.code === 'E_USAGE' && error.message === `FORGE_RELEASE_HISTORY must be a whole number of releases kept per service (≥ 2), got ${JSON.stringify(bad)}`);
  }
});

describe('control-plane sweep: releases, then the bundles they named', () => {
  test('a bundle named by a kept release stays; one named only by pruned releases goes', async () => {
    const dir = path.join(tmp, 'cp');
    const store = openStore(dir);
    const bundles = createBundleStore(path.join(dir, 'bundles'), 1 << 20);
    try {
      const versions: Bundle[] = [];
      for (const v of ['v1', 'v2', 'v3', 'v4', 'v5']) versions.push(await bundleOf(v));
      const base = validateSpecObject({ name: 'web', provider: 'agent', source: tmp, build: { commands: [] }, run: { command: 'node server.js' } }, { file: 't' });
      assert.ok(base.ok);
      const specOf = (b: Bundle): ServiceSpec => ({ ...base.specs[0]!.spec, revision: b.digest });
      // v1 succeeded, v2 succeeded, v3..v5 failed: v2 serves and is the rollback target.
      for (const [i, b] of versions.entries()) {
        const generation = i + 1;
        const up = store.services.upsert({ name: 'web', spec: specOf(b), hash: `h${generation}`, source: 'file:t' });
        assert.equal(up.row.generation, generation);
        store.releases.record({ name: 'web', generation, hash: `h${generation}`, spec: specOf(b), revision: b.digest });
        store.releases.setOutcome('web', generation, generation <= 2 ? 'succeeded' : 'failed');
        await bundles.putPacked(b);
      }
      const old = new Date(Date.now() - 3 * 3600_000);
      for (const b of versions) utimesSync(path.join(dir, 'bundles', `${b.digest.slice(7)}.tar.gz`), old, old);

      const result = await sweepRetention({ store, bundles, now: Date.now }, 2);
      assert.deepEqual(result.releases, { web: [1, 3] });
      assert.deepEqual(store.releases.list('web').map((r) => r.generation), [5, 4, 2]);
      assert.deepEqual(result.bundles.sort(), [versions[0]!.digest, versions[2]!.digest].sort());
      assert.equal(await bundles.has(versions[1]!.digest), true, 'the rollback target\'s bundle stays');
      assert.equal(await bundles.has(versions[3]!.digest), true);
      assert.equal(await bundles.has(versions[4]!.digest), true, 'the desired bundle stays');

      // A young upload nothing names yet (its apply has not landed) is not taken.
      const fresh = await bundleOf('fresh');
      await bundles.putPacked(fresh);
      assert.deepEqual((await sweepRetention({ store, bundles, now: Date.now }, 2)).bundles, []);
      assert.equal(await bundles.has(fresh.digest), true);
    } finally {
      store.close();
    }
  });
});

describe('agent bundle cache', () => {
  test('the bundle of an instance the agent runs is never pruned; other least-recently used ones are', async () => {
    const cache = path.join(tmp, 'agent-bundles');
    const stored = new Map<string, Bundle>();
    const download = async (digest: string) => Readable.toWeb(Readable.from([stored.get(digest)!.gzip])) as ReadableStream<Uint8Array>;
    const running = await bundleOf('running');
    stored.set(running.digest, running);
    const runningDir = await bundleSource(cache, running.digest, download, undefined, () => [running.digest]);
    const first = await bundleOf('other-0');
    stored.set(first.digest, first);
    const firstDir = await bundleSource(cache, first.digest, download, undefined, () => [running.digest]);
    const old = new Date(Date.now() - 3600_000);
    utimesSync(runningDir, old, old);
    utimesSync(firstDir, old, old);
    for (let i = 1; i <= KEPT_BUNDLES; i += 1) {
      const b = await bundleOf(`other-${i}`);
      stored.set(b.digest, b);
      await bundleSource(cache, b.digest, download, undefined, () => [running.digest]);
    }
    assert.equal(existsSync(runningDir), true, 'in use: kept although least recently used');
    assert.equal(existsSync(firstDir), false, 'not in use and least recently used: pruned');
    assert.equal(readdirSync(cache).length, KEPT_BUNDLES + 1);
  });
});
