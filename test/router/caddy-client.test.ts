// The Admin API client against a real caddy: absent vs present server, scoped
// writes that leave other servers and apps alone, error mapping.

import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { ForgeError } from '../../errors/index.ts';
import { CaddyClient } from '../../router/caddy-client.ts';
import { desiredRoute } from '../../router/routes.ts';
import { adminRaw, freePort, withCaddy } from './caddy-harness.ts';

const isProviderError = (pattern: RegExp) => (e: unknown) => e instanceof ForgeError && e.code === 'E_PROVIDER' && pattern.test(e.message);

describe('CaddyClient', () => {
  test('connection refused → a clear "not reachable" E_PROVIDER error', async () => {
    const admin = `http://127.0.0.1:${await freePort()}`;
    const client = new CaddyClient({ admin });
    await assert.rejects(client.readServer(), (e: unknown) => {
      assert.ok(e instanceof ForgeError);
      assert.equal(e.code, 'E_PROVIDER');
      assert.equal(e.message, `caddy admin not reachable at ${admin} (ECONNREFUSED)`);
      assert.equal(e.terminal, false);
      return true;
    });
  });

  test('readServer: null without the http app, null without our server, the config when present', async () => {
    await withCaddy(async ({ client, caddy, adminAddr, httpAddr }) => {
      assert.deepEqual(await client.readServer(), { listen: [httpAddr], routes: [], automatic_https: { disable: true } });
      const otherPort = await freePort();
      await adminRaw(caddy.adminUrl, 'POST', '/load', {
        admin: { listen: adminAddr },
        apps: { http: { servers: { other: { listen: [`127.0.0.1:${otherPort}`], automatic_https: { disable: true } } } } },
      });
      assert.equal(await client.readServer(), null);
      await adminRaw(caddy.adminUrl, 'POST', '/load', { admin: { listen: adminAddr } });
      assert.equal(await client.readServer(), null);
    });
  });

  test('ensureServer creates only our server and leaves other servers and apps byte-for-byte alone', async () => {
    await withCaddy(async ({ client, caddy, adminAddr, httpAddr }) => {
      const otherPort = await freePort();
      const other = { listen: [`127.0.0.1:${otherPort}`], automatic_https: { disable: true }, routes: [{ handle: [{ body: 'other', handler: 'static_response' }] }] };
      const pki = { certificate_authorities: { local: { install_trust: false } } };
      await adminRaw(caddy.adminUrl, 'POST', '/load', { admin: { listen: adminAddr }, apps: { http: { servers: { other } }, pki } });

      assert.equal(await client.ensureServer(), true);
      assert.equal(await client.ensureServer(), false);
      const config = await adminRaw(caddy.adminUrl, 'GET', '/config/apps');
      assert.deepEqual(config.json, {
        http: { servers: { other, forge: { listen: [httpAddr], routes: [], automatic_https: { disable: true } } } },
        pki,
      });
    });
  });

  test('ensureServer without a template says what is missing', async () => {
    await withCaddy(async ({ caddy, adminAddr }) => {
      await adminRaw(caddy.adminUrl, 'POST', '/load', { admin: { listen: adminAddr } });
      const bare = new CaddyClient({ admin: caddy.adminUrl });
      await assert.rejects(bare.ensureServer(), isProviderError(/caddy server 'forge' is absent .* no listen address is configured/));
    });
  });

  test('route operations by @id: append, get, replace, patch a sub-path, delete; absent ids are null/false', async () => {
    await withCaddy(async ({ client }) => {
      const a = desiredRoute({ name: 'a', domain: 'localhost', upstreams: ['127.0.0.1:9'] });
      const b = desiredRoute({ name: 'b', domain: 'localhost', upstreams: [] });
      await client.appendRoutes([a, b]);
      assert.deepEqual(await client.getRoute('forge-a'), a);

      const a2 = desiredRoute({ name: 'a', domain: 'localhost', upstreams: ['127.0.0.1:10'] });
      assert.equal(await client.replaceRoute('forge-a', a2), true);
      assert.deepEqual((await client.readServer())?.routes, [a2, b]);

      await client.patchAtId('forge-a', 'handle/0/upstreams', [{ dial: '127.0.0.1:11' }]);
      assert.deepEqual((await client.getRoute('forge-a'))?.handle?.[0]?.upstreams, [{ dial: '127.0.0.1:11' }]);

      assert.equal(await client.deleteRoute('forge-b'), true);
      assert.equal(await client.deleteRoute('forge-b'), false);
      assert.equal(await client.getRoute('forge-b'), null);
      assert.equal(await client.replaceRoute('forge-b', b), false);
    });
  });

  test('caddy rejecting a config change → E_PROVIDER carrying caddy\'s error text', async () => {
    await withCaddy(async ({ client }) => {
      await assert.rejects(client.appendRoutes([{ '@id': 'forge-x', handle: [{ handler: 'no_such_handler' }] }]), (e: unknown) => {
        assert.ok(e instanceof ForgeError);
        assert.equal(e.code, 'E_PROVIDER');
        assert.match(e.message, /^caddy admin POST \/config\/apps\/http\/servers\/forge\/routes\/\.\.\. failed \(\d{3}\): .*no_such_handler/);
        const details = e.details as { status: number; caddyError: string };
        assert.match(details.caddyError, /no_such_handler/);
        return true;
      });
      // A rejected change leaves the running config as it was.
      assert.deepEqual((await client.readServer())?.routes, []);
    });
  });
});
