// Chaos: the data dir on a 2 MB tmpfs, filled to the last byte. A write through
// the API is refused with an error body (no stack, no secret), nothing of it is
// left half-written (no row, no secret, no audit entry; the database passes its
// integrity check), reads keep working, and once space returns the same request
// succeeds. Needs root for `mount`; skipped otherwise.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { generateApiKey } from '../../api/auth.ts';
import { buildApi } from '../../api/server.ts';
import { createReconcilerMetrics } from '../../reconciler/metrics.ts';
import { createCipher } from '../../store/cipher.ts';
import { openStore } from '../../store/index.ts';
import { ALL_PROVIDERS, ENCRYPTION_KEY, JWT_SECRET } from '../api/helpers.ts';

const CANARY = 'disk-full-canary-31c8';

/** Appends to `file` until the filesystem says ENOSPC; returns the bytes written. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(16 * 1024, 0x61);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw error;
      }
    }
    // The last partial chunk: byte by byte down to nothing.
    for (let size = 1024; size >= 1; size = Math.floor(size / 2)) {
      try {
        for (;;) written += writeSync(fd, chunk.subarray(0, size));
      } catch {
        // this size no longer fits; try a smaller one
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

function canMount(): boolean {
  return process.getuid?.() === 0;
}

test('disk full in the data dir: the API reports an error, nothing is half-written, and it recovers when space returns', { skip: !canMount() && 'needs root to mount a tmpfs' }, async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'forge-chaos-disk-'));
  const data = join(base, 'data');
  mkdirSync(data);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', data]);
  const store = openStore(data);
  const metrics = createReconcilerMetrics();
  const logs: string[] = [];
  const { key, hash, prefix } = generateApiKey();
  store.apiKeys.create({ name: 'chaos', hash, prefix });
  const app = buildApi({
    store, cipher: createCipher([ENCRYPTION_KEY]), loop: { nudge: () => {} }, providersConfig: ALL_PROVIDERS, registry: metrics.registry,
    config: { jwtSecret: JWT_SECRET, encryptionKeys: [ENCRYPTION_KEY], allowedRepos: [], allowedBranches: ['main'], dataDir: data },
    logger: { level: 'info', stream: { write: (line: string) => { logs.push(line); } } },
  });
  const headers = { 'x-api-key': key };
  // Big enough that SQLite must grow its files: 400 values of 2,000 characters.
  const envVars = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`VAR_${i}`, `${CANARY}-${'x'.repeat(1_980)}`]));
  const big = { name: 'big', image: 'nginx:1', envVars };
  try {
    assert.equal((await app.inject({ method: 'POST', url: '/api/compute/services', headers, payload: { name: 'small', image: 'nginx:1' } })).statusCode, 201);
    const filler = join(data, 'filler');
    assert.ok(fill(filler) > 0);

    const refused = await app.inject({ method: 'POST', url: '/api/compute/services', headers, payload: big });
    assert.equal(refused.statusCode, 507, refused.body.slice(0, 200));
    const body = refused.json<{ error: string; message: string; stack?: unknown }>();
    assert.equal(body.error, 'E_STORE');
    assert.match(body.message, /out of disk space; nothing was written/);
    assert.equal(body.stack, undefined);
    t.diagnostic(`disk full: POST answered ${refused.statusCode} ${body.error}: ${body.message}`);
    assert.equal(refused.body.includes(CANARY), false);

    // Nothing of the refused write, and the database is whole; reads still answer.
    assert.equal(store.services.get('big'), null);
    assert.deepEqual(store.secrets.keys('big'), []);
    assert.equal(store.audit.list({ limit: 100 }).some((a) => a.target === 'big'), false);
    const list = await app.inject({ method: 'GET', url: '/api/compute/services', headers });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(list.json<{ name: string }[]>().map((s) => s.name), ['small']);
    const check = new Database(join(data, 'forge.db'), { readonly: true });
    assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
    check.close();

    rmSync(filler);
    const retried = await app.inject({ method: 'POST', url: '/api/compute/services', headers, payload: big });
    assert.equal(retried.statusCode, 201, retried.body.slice(0, 200));
    assert.equal(store.secrets.keys('big').length, 400);
    assert.deepEqual(logs.filter((l) => l.includes(CANARY)), [], 'no value in the log of the failure');
  } finally {
    await app.close();
    store.close();
    execFileSync('umount', [data]);
    rmSync(base, { recursive: true, force: true });
  }
});
