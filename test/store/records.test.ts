// Audit, webhook deployments and API keys: the small append/lookup tables.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ForgeError } from '../../errors/index.ts';
import { column, forEachEngine, type TempStore, T0 } from './helpers.ts';

forEachEngine((engine) => {
  let t: TempStore;
  beforeEach(() => {
    t = engine.tempStore();
  });
  afterEach(() => t.cleanup());

  describe('audit', () => {
    test('append returns the entry; list is newest first, by target, limited', () => {
      const first = t.store.audit.append({ actor: 'key:ops', action: 'service.create', target: 'web', details: { image: 'nginx' } });
      assert.deepEqual(first, {
        id: first.id, time: new Date(T0).toISOString(), actor: 'key:ops', action: 'service.create', target: 'web', details: { image: 'nginx' },
      });
      t.store.audit.append({ actor: 'key:ops', action: 'service.stop', target: 'web', details: null });
      t.store.audit.append({ actor: 'jwt:admin', action: 'service.create', target: 'api', details: null });
      assert.deepEqual(t.store.audit.list().map((r) => r.action + ':' + r.target), ['service.create:api', 'service.stop:web', 'service.create:web']);
      assert.deepEqual(t.store.audit.list({ limit: 1 }).map((r) => r.target), ['api']);
      assert.deepEqual(t.store.audit.list({ target: 'web' }).map((r) => r.action), ['service.stop', 'service.create']);
    });
  });

  describe('deployments', () => {
    const push = { deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958', repo: 'acme/app', branch: 'main', sha: 'a'.repeat(40) };

    test('create starts pending; a duplicate delivery id returns null and writes nothing', () => {
      const dep = t.store.deployments.create(push);
      assert.match(dep?.id ?? '', /^dep_[0-9a-f]{16}$/);
      assert.deepEqual({ ...dep, id: '' }, {
        id: '', ...push, state: 'pending', message: null, createdAt: new Date(T0).toISOString(), updatedAt: new Date(T0).toISOString(),
      });
      assert.equal(t.store.deployments.create({ ...push, sha: 'b'.repeat(40) }), null);
      assert.equal(t.store.deployments.list().length, 1);
      assert.equal(t.store.deployments.getByDelivery(push.deliveryId)?.sha, push.sha);
    });

    test('setState moves through the states with a message', () => {
      const dep = t.store.deployments.create(push)!;
      t.clock.now += 1_000;
      assert.equal(t.store.deployments.setState(dep.id, 'failed', 'forge.yaml:3:5 port: must be a number'), true);
      const got = t.store.deployments.get(dep.id);
      assert.deepEqual([got?.state, got?.message, got?.updatedAt], ['failed', 'forge.yaml:3:5 port: must be a number', new Date(T0 + 1_000).toISOString()]);
      assert.equal(t.store.deployments.setState('dep_missing', 'running'), false);
    });

    test('list is newest first', () => {
      t.store.deployments.create({ ...push, deliveryId: 'd1' });
      t.clock.now += 1;
      t.store.deployments.create({ ...push, deliveryId: 'd2' });
      assert.deepEqual(t.store.deployments.list().map((d) => d.deliveryId), ['d2', 'd1']);
    });
  });

  describe('api keys', () => {
    test('create stores hash and prefix; findByHash finds only active keys', () => {
      const key = t.store.apiKeys.create({ name: 'ci', hash: 'sha256:abc', prefix: 'ik_3f9a' });
      assert.match(key.id, /^key_[0-9a-f]{16}$/);
      assert.deepEqual(t.store.apiKeys.findByHash('sha256:abc'), key);
      assert.equal(t.store.apiKeys.findByHash('sha256:other'), null);
      assert.equal(t.store.apiKeys.revoke(key.id), 1);
      assert.equal(t.store.apiKeys.revoke(key.id), 0);
      assert.equal(t.store.apiKeys.findByHash('sha256:abc'), null);
      assert.equal(t.store.apiKeys.list()[0]?.revokedAt, new Date(T0).toISOString());
    });

    test('revoke by name; touch records last use; the same hash twice is a conflict', () => {
      const key = t.store.apiKeys.create({ name: 'laptop', hash: 'h1', prefix: 'ik_1' });
      t.clock.now += 60_000;
      t.store.apiKeys.touch(key.id);
      assert.equal(t.store.apiKeys.list()[0]?.lastUsedAt, new Date(T0 + 60_000).toISOString());
      assert.throws(
        () => t.store.apiKeys.create({ name: 'dup', hash: 'h1', prefix: 'ik_1' }),
        (e: unknown) => e instanceof ForgeError && e.code === 'E_CONFLICT',
      );
      assert.equal(t.store.apiKeys.revoke('laptop'), 1);
    });

    test('no column can hold a key: only id, name, hash, prefix and times', () => {
      const columns = t.dialect === 'sqlite'
        ? column(t.sql, `SELECT name FROM pragma_table_info('api_keys')`)
        : column(t.sql, `SELECT column_name FROM information_schema.columns WHERE table_name = 'api_keys' ORDER BY ordinal_position`);
      // PostgreSQL has no implicit rowid: the listing's insertion order is an explicit column there.
      const rowid = t.dialect === 'postgres' ? ['rowid'] : [];
      assert.deepEqual(columns, ['id', 'name', 'hash', 'prefix', 'created_at', 'last_used_at', 'revoked_at', ...rowid]);
    });
  });
});
