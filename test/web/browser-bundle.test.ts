// The dashboard's own bundle pieces (web/sha256.js, web/tar.js), checked in Node: the
// digest equals node:crypto's for every length around the block boundaries and for
// data fed in odd slices; the tar it writes is extracted by node-tar (what agents use)
// into exactly the files given, long paths and UTF-8 names included.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { extract } from 'tar';

interface Sha { update(bytes: Uint8Array): void; hex(): string }
interface TarModule {
  tarFiles(files: { path: string; bytes: Uint8Array }[]): Uint8Array;
  bundlePath(relative: string): string | null;
  isTar(bytes: Uint8Array): boolean;
  isGzip(bytes: Uint8Array): boolean;
}
// Plain browser modules (no types): imported by URL so the type checker does not look for declarations.
const { createSha256 } = (await import(new URL('../../web/sha256.js', import.meta.url).href)) as { createSha256(): Sha };
const tar = (await import(new URL('../../web/tar.js', import.meta.url).href)) as TarModule;

const nodeSha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

test('sha256 matches node:crypto at every length from 0 to 200 bytes and for a 3 MB input fed in odd slices', () => {
  for (let n = 0; n <= 200; n += 1) {
    const data = randomBytes(n);
    const sha = createSha256();
    sha.update(data);
    assert.equal(sha.hex(), nodeSha(data), `length ${n}`);
  }
  const big = randomBytes(3 * 1024 * 1024 + 17);
  const sha = createSha256();
  for (let at = 0, step = 1; at < big.length; at += step, step = (step * 7 + 13) % 100_003) sha.update(big.subarray(at, at + step));
  assert.equal(sha.hex(), nodeSha(big));
});

test('a picked folder loses its own name and .git, node_modules and .forge at any depth', () => {
  assert.deepEqual(
    ['app/server.js', 'app/src/a.js', 'app/.git/HEAD', 'app/web/node_modules/x/i.js', 'app/.forge/state', 'app', 'app/.gitignore'].map(tar.bundlePath),
    ['server.js', 'src/a.js', null, null, null, null, '.gitignore'],
  );
});

test('node-tar extracts the tar into exactly the files given, sorted, long and UTF-8 paths included', async () => {
  const long = `${'deep/'.repeat(30)}file.txt`; // 158 bytes: ustar prefix + name
  const longer = `${'x'.repeat(120)}/${'y'.repeat(120)}.txt`; // no split fits: a pax path record
  const files = [
    { path: 'server.js', bytes: new TextEncoder().encode('console.log("hi")\n') },
    { path: 'src/ünïcode.txt', bytes: new TextEncoder().encode('ü') },
    { path: long, bytes: randomBytes(1000) },
    { path: longer, bytes: randomBytes(512) },
    { path: 'empty', bytes: new Uint8Array(0) },
  ];
  const archive = tar.tarFiles(files);
  assert.equal(archive.length % 512, 0);
  assert.ok(tar.isTar(archive) && !tar.isGzip(archive));
  assert.equal(nodeSha(tar.tarFiles([...files].reverse())), nodeSha(archive), 'the same files give the same digest in any order');

  const dir = mkdtempSync(path.join(tmpdir(), 'forge-webtar-'));
  try {
    writeFileSync(path.join(dir, 'a.tar'), archive);
    const out = path.join(dir, 'out');
    mkdirSync(out);
    await extract({ file: path.join(dir, 'a.tar'), cwd: out, strict: true, preserveOwner: false });
    const found: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const full = path.join(d, e.name);
        if (e.isDirectory()) walk(full);
        else found.push(path.relative(out, full));
      }
    };
    walk(out);
    assert.deepEqual(found.sort(), files.map((f) => f.path).sort());
    for (const f of files) assert.deepEqual(readFileSync(path.join(out, f.path)), Buffer.from(f.bytes), f.path);
    assert.equal(statSync(path.join(out, 'server.js')).mode & 0o777, 0o644);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('isTar checks a header checksum; isGzip the magic number', () => {
  assert.equal(tar.isTar(new Uint8Array(1024)), false, 'zero blocks are not a header');
  const archive = tar.tarFiles([{ path: 'a', bytes: new Uint8Array([1]) }]);
  const broken = archive.slice();
  broken[0] = 0x41;
  assert.equal(tar.isTar(broken), false);
  assert.equal(tar.isGzip(new Uint8Array([0x1f, 0x8b, 8])), true);
  assert.equal(tar.isTar(new TextEncoder().encode('PK\u0003\u0004'.padEnd(600, 'z'))), false, 'a zip is not a tar');
});
