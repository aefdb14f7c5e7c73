// The agent's per-revision source copies (agent/runner/source-cache.ts): what the
// rollback in cutover.test.ts relies on, checked on its own with exact contents.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KEPT_SNAPSHOTS, snapshotDir, sourceForRevision } from '../../agent/runner/source-cache.ts';

function scratch(): { dir: string; source: string; cache: string; done(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-source-cache-'));
  const source = path.join(dir, 'app');
  mkdirSync(path.join(source, 'node_modules'), { recursive: true });
  writeFileSync(path.join(source, 'node_modules', 'dep.js'), 'dep');
  return { dir, source, cache: path.join(dir, 'cache'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('a revision seen before builds from its copy, not from what the folder holds now', async () => {
  const s = scratch();
  try {
    writeFileSync(path.join(s.source, 'server.js'), 'v1');
    const first = await sourceForRevision(s.cache, s.source, 'rev-1');
    assert.equal(first, snapshotDir(s.cache, s.source, 'rev-1'));
    writeFileSync(path.join(s.source, 'server.js'), 'v2');
    const second = await sourceForRevision(s.cache, s.source, 'rev-2');
    assert.deepEqual([readFileSync(path.join(first, 'server.js'), 'utf8'), readFileSync(path.join(second, 'server.js'), 'utf8')], ['v1', 'v2']);
    // Back to rev-1 (a rollback) while the folder says v2.
    assert.equal(readFileSync(path.join(await sourceForRevision(s.cache, s.source, 'rev-1'), 'server.js'), 'utf8'), 'v1');
    assert.equal(existsSync(path.join(first, 'node_modules')), false, 'installed deps are not copied');
  } finally {
    s.done();
  }
});

test('without a revision the folder itself is used; old copies are pruned beyond the limit', async () => {
  const s = scratch();
  try {
    writeFileSync(path.join(s.source, 'server.js'), 'x');
    assert.equal(await sourceForRevision(s.cache, s.source, undefined), s.source);
    for (let i = 0; i < KEPT_SNAPSHOTS + 3; i += 1) await sourceForRevision(s.cache, s.source, `rev-${i}`);
    assert.equal(readdirSync(s.cache).length, KEPT_SNAPSHOTS);
    assert.equal(existsSync(snapshotDir(s.cache, s.source, `rev-${KEPT_SNAPSHOTS + 2}`)), true, 'the newest is kept');
  } finally {
    s.done();
  }
});
