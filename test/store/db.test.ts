import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ForgeError } from '../../errors/index.ts';
import { migrate, openDatabase, resolveDataDir } from '../../store/db.ts';
import { databasePath, openStore } from '../../store/index.ts';
import { MIGRATIONS } from '../../store/migrations.ts';
import { spec } from './helpers.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'forge-db-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('openDatabase', () => {
  test('turns on WAL, foreign keys, NORMAL sync and a busy timeout', () => {
    const db = openDatabase(join(dir, 'pragmas.db'));
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
      assert.equal(db.pragma('synchronous', { simple: true }), 1); // NORMAL
      assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
    } finally {
      db.close();
    }
  });

  test('runs every migration once and records it; reopening applies nothing and keeps data', () => {
    const file = join(dir, 'migrate.db');
    const first = openStore(file);
    first.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
    first.close();

    const db = openDatabase(file);
    try {
      assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
      const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
      assert.deepEqual(versions, MIGRATIONS.map((_, i) => i + 1));
      assert.deepEqual(migrate(db), []);
      assert.equal(db.prepare('SELECT count(*) FROM schema_migrations').pluck().get(), MIGRATIONS.length);
    } finally {
      db.close();
    }

    const again = openStore(file);
    assert.equal(again.services.get('web')?.generation, 1);
    again.close();
  });

  test('applies only the migrations newer than the stored version', () => {
    const file = join(dir, 'partial.db');
    const db = openDatabase(file, MIGRATIONS.slice(0, 1));
    try {
      assert.equal(db.pragma('user_version', { simple: true }), 1);
      assert.deepEqual(migrate(db), MIGRATIONS.slice(1).map((_, i) => i + 2));
      assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    } finally {
      db.close();
    }
  });

  test('refuses a database written by a newer Forge', () => {
    const file = join(dir, 'newer.db');
    openDatabase(file).close();
    const raw = openDatabase(file);
    raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    raw.close();
    assert.throws(
      () => openDatabase(file),
      (e: unknown) => e instanceof ForgeError && e.code === 'E_STORE' && /newer Forge/.test(e.message),
    );
  });

  test('a failing migration leaves the schema untouched', () => {
    const file = join(dir, 'broken.db');
    assert.throws(() => openDatabase(file, ['CREATE TABLE a (x)', 'CREATE TABLE b (']), ForgeError);
    const db = openDatabase(file, []);
    try {
      assert.equal(db.pragma('user_version', { simple: true }), 0);
      assert.equal(db.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'a'`).pluck().get(), 0);
    } finally {
      db.close();
    }
  });

  test(':memory: works', () => {
    const store = openStore(':memory:');
    assert.equal(store.path, ':memory:');
    assert.equal(store.services.upsert({ name: 'x', spec: spec('x'), hash: 'h', source: 'api' }).created, true);
    store.close();
  });
});

describe('data dir', () => {
  test('FORGE_DATA_DIR wins and is created with mode 0700', () => {
    const got = resolveDataDir({ FORGE_DATA_DIR: 'custom/data' }, dir);
    assert.equal(got, join(dir, 'custom/data'));
    assert.equal(statSync(got).mode & 0o777, 0o700);
  });

  test('defaults to .forge under cwd', () => {
    assert.equal(resolveDataDir({}, dir), join(dir, '.forge'));
    assert.equal(resolveDataDir({ FORGE_DATA_DIR: '' }, dir), join(dir, '.forge'));
  });

  test('databasePath: a dir holds forge.db, a .db path is the file', () => {
    assert.equal(databasePath(':memory:'), ':memory:');
    assert.equal(databasePath(join(dir, 'x.db')), join(dir, 'x.db'));
    assert.equal(databasePath(join(dir, 'datadir')), join(dir, 'datadir', 'forge.db'));
    assert.equal(statSync(join(dir, 'datadir')).isDirectory(), true);
  });
});
