// agent/runner/build-cache.ts: caches per service, node_modules carried over only
// while the lockfile is unchanged, one deps folder per service.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { prepareBuildCache } from '../../agent/runner/build-cache.ts';

const root = mkdtempSync(path.join(tmpdir(), 'forge-build-cache-'));
after(() => rmSync(root, { recursive: true, force: true }));

function release(name: string, lock: string | null): string {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'server.js'), name);
  if (lock !== null) writeFileSync(path.join(dir, 'package-lock.json'), lock);
  return dir;
}

describe('build cache', () => {
  const cacheRoot = path.join(root, 'cache');

  test('exports per-service cache dirs to the build', async () => {
    const cache = await prepareBuildCache(cacheRoot, 'web', release('r0', null));
    assert.equal(cache.env.npm_config_cache, path.join(cacheRoot, 'web', 'npm'));
    assert.equal(cache.env.PIP_CACHE_DIR, path.join(cacheRoot, 'web', 'pip'));
    assert.equal(cache.env.XDG_CACHE_HOME, path.join(cacheRoot, 'web', 'xdg'));
    assert.equal(cache.lock, null);
    assert.equal(cache.restored, false);
    for (const dir of cache.dirs) assert.ok(existsSync(dir));
  });

  test('the next release with the same lockfile starts with the previous node_modules; a new lockfile does not', async () => {
    const r1 = release('r1', '{"lock":1}');
    const first = await prepareBuildCache(cacheRoot, 'web', r1);
    assert.equal(first.restored, false);
    mkdirSync(path.join(r1, 'node_modules', 'express'), { recursive: true });
    writeFileSync(path.join(r1, 'node_modules', 'express', 'index.js'), 'installed');
    await first.save();

    const r2 = release('r2', '{"lock":1}');
    const second = await prepareBuildCache(cacheRoot, 'web', r2);
    assert.equal(second.restored, true);
    assert.equal(readFileSync(path.join(r2, 'node_modules', 'express', 'index.js'), 'utf8'), 'installed');
    writeFileSync(path.join(r2, 'node_modules', 'express', 'index.js'), 'changed by build 2');
    const r2b = release('r2b', '{"lock":1}');
    await prepareBuildCache(cacheRoot, 'web', r2b);
    assert.equal(readFileSync(path.join(r2b, 'node_modules', 'express', 'index.js'), 'utf8'), 'installed', 'the kept copy is not changed through a release');

    const r3 = release('r3', '{"lock":2}');
    const third = await prepareBuildCache(cacheRoot, 'web', r3);
    assert.equal(third.restored, false);
    assert.equal(existsSync(path.join(r3, 'node_modules')), false);
    mkdirSync(path.join(r3, 'node_modules'), { recursive: true });
    await third.save();
    assert.deepEqual(readdirSync(path.join(cacheRoot, 'web', 'deps')), [third.lock], 'only the latest lockfile is kept');

    const other = await prepareBuildCache(cacheRoot, 'api', release('o1', '{"lock":2}'));
    assert.equal(other.restored, false, 'caches are per service');
  });
});
