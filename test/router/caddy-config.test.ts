import { strict as assert } from 'node:assert';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ForgeError } from '../../errors/index.ts';
import { caddyClientFromEnv } from '../../router/caddy-client.ts';
import { assertLoopback, forgeServerConfig, isLocalDomain, listenPort, managedCaddyConfig } from '../../router/caddy-config.ts';
import { CADDY_INSTALL_HINT, findCaddy, startManagedCaddy } from '../../router/managed-caddy.ts';

describe('isLocalDomain', () => {
  const cases: Array<[string, boolean]> = [
    ['localhost', true],
    ['LOCALHOST', true],
    ['dev.localhost', true],
    ['127.0.0.1', true],
    ['192.168.1.20', true],
    ['::1', true],
    ['[::1]', true],
    ['example.com', false],
    ['apps.example.com', false],
    ['localhost.example.com', false],
  ];
  for (const [domain, expected] of cases) test(`${domain} → ${expected}`, () => assert.equal(isLocalDomain(domain), expected));
});

describe('forgeServerConfig / managedCaddyConfig', () => {
  test('local domain: HTTP on httpAddr, automatic HTTPS disabled', () => {
    assert.deepEqual(forgeServerConfig({ httpAddr: '127.0.0.1:8088', domain: 'localhost' }), {
      listen: ['127.0.0.1:8088'],
      routes: [],
      automatic_https: { disable: true },
    });
  });

  test('real domain: HTTPS listener, automatic HTTPS left on', () => {
    assert.deepEqual(forgeServerConfig({ httpAddr: ':80', domain: 'example.com' }), { listen: [':443'], routes: [] });
    assert.deepEqual(forgeServerConfig({ httpAddr: ':80', httpsAddr: ':8443', domain: 'example.com' }), { listen: [':8443'], routes: [] });
  });

  test('managed base config, local domain', () => {
    assert.deepEqual(
      managedCaddyConfig({ adminAddr: '127.0.0.1:2019', httpAddr: '127.0.0.1:8088', domain: 'localhost', dataDir: '/d', server: 'forge' }),
      {
        admin: { listen: '127.0.0.1:2019', config: { persist: false } },
        storage: { module: 'file_system', root: '/d/caddy/storage' },
        apps: { http: { servers: { forge: { listen: ['127.0.0.1:8088'], routes: [], automatic_https: { disable: true } } } } },
      },
    );
  });

  test('managed base config, real domain: redirect and ACME ports follow the configured addresses', () => {
    assert.deepEqual(
      managedCaddyConfig({ adminAddr: 'localhost:2019', httpAddr: ':8080', httpsAddr: ':8443', domain: 'example.com', dataDir: '/d', server: 'edge' }),
      {
        admin: { listen: 'localhost:2019', config: { persist: false } },
        storage: { module: 'file_system', root: '/d/caddy/storage' },
        apps: { http: { servers: { edge: { listen: [':8443'], routes: [] } }, http_port: 8080, https_port: 8443 } },
      },
    );
  });

  test('the admin address must be loopback and have a port', () => {
    for (const ok of ['127.0.0.1:2019', 'localhost:1', '[::1]:2019', '127.0.0.2:9']) assertLoopback(ok);
    for (const bad of ['0.0.0.0:2019', ':2019', '10.0.0.1:2019', 'example.com:2019', '127.0.0.1']) {
      assert.throws(() => assertLoopback(bad), (e: unknown) => e instanceof ForgeError && e.code === 'E_USAGE', bad);
    }
  });

  test('listenPort table', () => {
    assert.equal(listenPort(':80'), 80);
    assert.equal(listenPort('127.0.0.1:8088'), 8088);
    assert.equal(listenPort('[::1]:8443'), 8443);
    assert.throws(() => listenPort('host:0'), (e: unknown) => e instanceof ForgeError && e.code === 'E_USAGE');
  });

  test('caddyClientFromEnv reads the documented variables and defaults', () => {
    const dev = caddyClientFromEnv({});
    assert.equal(dev.admin, 'http://127.0.0.1:2019');
    assert.equal(dev.server, 'forge');
    assert.deepEqual(dev.serverTemplate, { listen: ['127.0.0.1:8088'], routes: [], automatic_https: { disable: true } });
    const prod = caddyClientFromEnv({ FORGE_MODE: 'production', FORGE_DOMAIN: 'apps.example.com', FORGE_CADDY_ADMIN: 'http://127.0.0.1:3019/', FORGE_CADDY_SERVER: 'edge' });
    assert.equal(prod.admin, 'http://127.0.0.1:3019');
    assert.equal(prod.server, 'edge');
    assert.deepEqual(prod.serverTemplate, { listen: [':443'], routes: [] });
    assert.deepEqual(caddyClientFromEnv({ FORGE_MODE: 'production' }).serverTemplate, { listen: [':80'], routes: [], automatic_https: { disable: true } });
  });
});

describe('findCaddy', () => {
  test('finds an executable named caddy on PATH, in PATH order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'forge-findcaddy-'));
    try {
      const empty = join(dir, 'empty');
      const bin = join(dir, 'bin');
      mkdirSync(empty);
      mkdirSync(bin);
      writeFileSync(join(bin, 'caddy'), '#!/bin/sh\n');
      chmodSync(join(bin, 'caddy'), 0o755);
      assert.equal(findCaddy({ PATH: `${empty}:${bin}` }), join(bin, 'caddy'));
      assert.equal(findCaddy({ PATH: empty }), null);
      assert.equal(findCaddy({}), null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('without a binary on PATH, starting a managed caddy fails with the install hint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'forge-nocaddy-'));
    const savedPath = process.env.PATH;
    process.env.PATH = dir;
    try {
      await assert.rejects(
        startManagedCaddy({ adminAddr: '127.0.0.1:1', httpAddr: '127.0.0.1:2', domain: 'localhost', dataDir: dir }),
        (e: unknown) => e instanceof ForgeError && e.code === 'E_PROVIDER' && e.terminal && e.message === CADDY_INSTALL_HINT,
      );
    } finally {
      process.env.PATH = savedPath;
      rmSync(dir, { recursive: true, force: true });
    }
    assert.match(CADDY_INSTALL_HINT, /apt-get install caddy/);
  });

  test('a caddy path that cannot be spawned is reported, not hung on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'forge-badcaddy-'));
    try {
      await assert.rejects(
        startManagedCaddy({ caddyPath: join(dir, 'missing-caddy'), adminAddr: '127.0.0.1:1', httpAddr: '127.0.0.1:2', domain: 'localhost', dataDir: dir }),
        (e: unknown) => e instanceof ForgeError && e.code === 'E_PROVIDER' && /before its admin API answered/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
