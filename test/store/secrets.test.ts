import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ForgeError } from '../../errors/index.ts';
import { column, forEachEngine, scalar, spec, type TempStore } from './helpers.ts';

const CANARY = 'canary-plaintext-7f3a9c';
// Stands in for the API's cipher output: the store must keep exactly these bytes.
const CIPHERTEXT = Buffer.from(Buffer.from(CANARY, 'utf8').map((b, i) => b ^ (0xa5 + i) % 256));

forEachEngine((engine) => {
  describe('secrets', () => {
    let t: TempStore;
    beforeEach(() => {
      t = engine.tempStore();
      t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
      t.store.services.upsert({ name: 'api', spec: spec('api'), hash: 'h1', source: 'api' });
    });
    afterEach(() => t.cleanup());

    test('stores the ciphertext bytes as a BLOB and returns them unchanged', () => {
      t.store.secrets.put('web', 'TOKEN', CIPHERTEXT, 'k1');
      const [row] = t.store.secrets.all('web');
      assert.deepEqual(row, { name: 'web', key: 'TOKEN', ciphertext: CIPHERTEXT, keyId: 'k1' });
      const type = t.dialect === 'sqlite' ? 'SELECT typeof(ciphertext) FROM secrets' : 'SELECT pg_typeof(ciphertext)::text FROM secrets';
      assert.equal(scalar(t.sql, type), t.dialect === 'sqlite' ? 'blob' : 'bytea');
    });

    test('no plaintext reaches the database file or its WAL (PostgreSQL: any row)', () => {
      t.store.secrets.put('web', 'TOKEN', CIPHERTEXT, 'k1');
      if (t.dialect === 'sqlite') {
        const bytes = Buffer.concat([readFileSync(t.file), readFileSync(`${t.file}-wal`)]);
        assert.equal(bytes.includes(Buffer.from(CANARY)), false);
        assert.equal(bytes.includes(CIPHERTEXT), true);
        return;
      }
      // The cluster's files are the server's own: every row of every table, as text (bytea as hex).
      const tables = column(t.sql, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`) as string[];
      const text = tables.map((name) => String(scalar(t.sql, `SELECT string_agg(r::text, '') FROM ${name} r`))).join('');
      for (const needle of [CANARY, Buffer.from(CANARY).toString('hex')]) assert.equal(text.includes(needle), false);
      assert.equal(text.includes(CIPHERTEXT.toString('hex')), true);
    });

    test('keys lists names only, sorted; put replaces; remove deletes', () => {
      t.store.secrets.put('web', 'B', Buffer.from([1]), 'k1');
      t.store.secrets.put('web', 'A', Buffer.from([2]), 'k1');
      t.store.secrets.put('web', 'A', Buffer.from([3]), 'k2');
      assert.deepEqual(t.store.secrets.keys('web'), ['A', 'B']);
      assert.deepEqual(t.store.secrets.all('web')[0], { name: 'web', key: 'A', ciphertext: Buffer.from([3]), keyId: 'k2' });
      assert.equal(t.store.secrets.remove('web', 'B'), true);
      assert.equal(t.store.secrets.remove('web', 'B'), false);
      assert.deepEqual(t.store.secrets.keys('web'), ['A']);
    });

    test('replaceAll sets exactly the given rows, and is all-or-nothing', () => {
      t.store.secrets.put('web', 'OLD', Buffer.from([1]), 'k1');
      t.store.secrets.replaceAll('web', [
        { key: 'X', ciphertext: Buffer.from([9]), keyId: 'k2' },
        { key: 'Y', ciphertext: Buffer.from([8]), keyId: 'k2' },
      ]);
      assert.deepEqual(t.store.secrets.keys('web'), ['X', 'Y']);
      assert.throws(() =>
        t.store.secrets.replaceAll('web', [
          { key: 'Z', ciphertext: Buffer.from([7]), keyId: 'k2' },
          { key: 'BAD', ciphertext: 'not a buffer' as unknown as Buffer, keyId: 'k2' },
        ]),
      );
      assert.deepEqual(t.store.secrets.keys('web'), ['X', 'Y']);
    });

    test('allRows spans services (for re-encryption)', () => {
      t.store.secrets.put('web', 'A', Buffer.from([1]), 'k1');
      t.store.secrets.put('api', 'A', Buffer.from([2]), 'k1');
      assert.deepEqual(t.store.secrets.allRows().map((r) => `${r.name}/${r.key}`), ['api/A', 'web/A']);
    });

    test('a secret for a missing service is refused with E_NOT_FOUND and no value in the message', () => {
      assert.throws(
        () => t.store.secrets.put('ghost', 'TOKEN', CIPHERTEXT, 'k1'),
        (e: unknown) => e instanceof ForgeError && e.code === 'E_NOT_FOUND' && !e.message.includes(CIPHERTEXT.toString('hex')),
      );
    });
  });
});
