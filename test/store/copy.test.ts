// `forge store migrate --to postgres://…` under the hood: every row moves, secrets stay sealed
// byte for byte, ids continue after the copied ones, and a database that holds data is refused.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ForgeError } from '../../errors/index.ts';
import { runCli } from '../../cli/index.ts';
import { migrateSqliteToPostgres } from '../../store/copy.ts';
import { openStore } from '../../store/index.ts';
import { postgresSql } from '../../store/pg-engine.ts';
import { type PgCluster, postgresSkipReason, startPgCluster } from './pg-cluster.ts';
import { T0, spec, tempStore } from './helpers.ts';
import { dirname } from 'node:path';

const skip = postgresSkipReason();
describe('SQLite → PostgreSQL', skip === undefined ? {} : { skip }, () => {
  let cluster: PgCluster;
  before(async () => {
    cluster = await startPgCluster();
  });
  after(async () => cluster?.stop());

  test('every row moves as stored; a second migration into the same database is refused', () => {
    const t = tempStore();
    const admin = postgresSql(cluster.adminUrl);
    admin.exec('CREATE DATABASE moved');
    const url = cluster.urlFor('moved');
    try {
      const s = t.store;
      s.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
      s.services.upsert({ name: 'web', spec: spec('web', { port: 9000 }), hash: 'h2', source: 'api' });
      s.secrets.put('web', 'TOKEN', Buffer.from([0, 1, 2, 250]), 'k1');
      for (let i = 0; i < 3; i++) s.events.append('web', { type: 'Normal', reason: 'R', message: `m${i}` });
      const task = s.tasks.enqueue({ kind: 'run', service: 'web', generation: 2, replica: 0 });
      s.tasks.appendLog(task.id, 'hello');
      s.apiKeys.create({ name: 'b', hash: 'hb', prefix: 'pb' });
      s.apiKeys.create({ name: 'a', hash: 'ha', prefix: 'pa' });
      s.releases.record({ name: 'web', generation: 2, hash: 'h2', spec: spec('web'), revision: null });

      const report = migrateSqliteToPostgres(t.file, url);
      assert.equal(report.tables.find((r) => r.name === 'events')?.rows, 3);

      const moved = openStore(url, { clock: () => T0 });
      try {
        assert.deepEqual(moved.services.get('web'), s.services.get('web'));
        assert.deepEqual(moved.secrets.all('web'), s.secrets.all('web'));
        assert.deepEqual(moved.events.list('web'), s.events.list('web'));
        assert.deepEqual(moved.tasks.get(task.id), s.tasks.get(task.id));
        assert.deepEqual(moved.tasks.logs(task.id), s.tasks.logs(task.id));
        assert.deepEqual(moved.apiKeys.list().map((k) => k.name), ['b', 'a'], 'insertion order kept');
        assert.deepEqual(moved.releases.list('web'), s.releases.list('web'));
        // Ids continue after the copied ones.
        const next = moved.events.append('web', { type: 'Normal', reason: 'R', message: 'after' });
        assert.ok(next.id > Math.max(...s.events.list('web').map((e) => e.id)));
      } finally {
        moved.close();
      }
      assert.throws(() => migrateSqliteToPostgres(t.file, url),
        (e: unknown) => e instanceof ForgeError && e.code === 'E_CONFLICT' && /empty database/.test(e.message));
    } finally {
      t.cleanup();
      admin.exec('DROP DATABASE moved WITH (FORCE)');
      admin.close();
    }
  });

  test('forge store migrate --to URL moves the data dir\'s store; a wrong URL is a usage error', async () => {
    const t = tempStore();
    const admin = postgresSql(cluster.adminUrl);
    admin.exec('CREATE DATABASE by_cli');
    const url = cluster.urlFor('by_cli');
    try {
      t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
      const deps = { cwd: dirname(t.file), env: { FORGE_DATA_DIR: '.' } };
      const bad = await runCli(['store', 'migrate', '--to', 'mysql://h/db'], deps);
      assert.equal(bad.exitCode, 2);
      assert.match(bad.stderr, /--to must be a postgres:\/\/ or postgresql:\/\/ URL/);
      const done = await runCli(['store', 'migrate', '--to', url], deps);
      assert.equal(done.exitCode, 0, done.stderr);
      assert.match(done.stdout, /^copied \d+ row\(s\) from \d+ table\(s\)/);
      const moved = openStore(url);
      try {
        assert.deepEqual(moved.services.get('web'), t.store.services.get('web'));
      } finally {
        moved.close();
      }
    } finally {
      t.cleanup();
      admin.exec('DROP DATABASE by_cli WITH (FORCE)');
      admin.close();
    }
  });
});
