// specs/bundle.ts: same files → same digest (whatever their mtimes, owners or
// non-exec mode bits), .gitignore and .forgeignore honoured, an edit is a new digest.

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { createHash, randomBytes } from 'node:crypto';
import { bundleFiles, packBundle } from '../../specs/bundle.ts';
import { isForgeError } from '../../errors/index.ts';

const root = mkdtempSync(path.join(tmpdir(), 'forge-pack-'));
after(() => rmSync(root, { recursive: true, force: true }));

function app(name: string, files: Record<string, string>): string {
  const dir = path.join(root, name);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

const FILES = {
  'server.js': 'require("http").createServer((q, s) => s.end("v1")).listen(process.env.PORT);\n',
  'package.json': '{"name":"x"}\n',
  'lib/util.js': 'module.exports = 1;\n',
  '.gitignore': 'dist/\n*.log\n',
  '.forgeignore': 'secrets.txt\n',
};

describe('source bundles', () => {
  test('the same files give the same digest, whatever their times and umask', async () => {
    const a = app('a', FILES);
    const b = app('b', FILES);
    utimesSync(path.join(b, 'server.js'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    chmodSync(path.join(a, 'package.json'), 0o600);
    chmodSync(path.join(b, 'package.json'), 0o664);
    const [pa, pb] = [await packBundle(a), await packBundle(b)];
    assert.match(pa.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(pa.digest, pb.digest);
    assert.equal(pa.digest, `sha256:${createHash('sha256').update(gunzipSync(pa.gzip)).digest('hex')}`, 'the digest is of the uncompressed tar');
  });

  test('the executable bit and any edit are part of the content', async () => {
    const a = app('c', FILES);
    const before = (await packBundle(a)).digest;
    chmodSync(path.join(a, 'server.js'), 0o755);
    const exec = (await packBundle(a)).digest;
    assert.notEqual(exec, before);
    writeFileSync(path.join(a, 'server.js'), 'require("http").createServer((q, s) => s.end("v2")).listen(process.env.PORT);\n');
    assert.notEqual((await packBundle(a)).digest, exec);
  });

  test('.gitignore (nested too), .forgeignore, node_modules and .git stay out; entries are sorted', async () => {
    const a = app('d', {
      ...FILES, 'dist/out.js': 'x', 'debug.log': 'x', 'secrets.txt': 'x', 'node_modules/dep/index.js': 'x', '.git/HEAD': 'x',
      'sub/.gitignore': 'local.tmp\n', 'sub/local.tmp': 'x', 'sub/kept.js': 'x',
    });
    assert.deepEqual(await bundleFiles(a), ['.forgeignore', '.gitignore', 'lib/util.js', 'package.json', 'server.js', 'sub/.gitignore', 'sub/kept.js']);
  });

  test('a bundle over the limit is E_TOO_LARGE naming both sizes', async () => {
    const a = app('e', { ...FILES, 'big.bin': randomBytes(200_000).toString('base64') });
    await assert.rejects(packBundle(a, { limitBytes: 10_000 }), (error: unknown) => {
      assert.ok(isForgeError(error));
      assert.equal(error.code, 'E_TOO_LARGE');
      assert.match(error.message, /over the 0\.0 MB limit: list build output and data in \.forgeignore/);
      assert.equal((error.details as { limitBytes: number }).limitBytes, 10_000);
      return true;
    });
  });
});
