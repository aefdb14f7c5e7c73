// Forge's upstream DNS responder over real UDP (Node's c-ares resolver as the
// client), and the service router publishing through it to a real caddy: an
// upstream change reaches caddy without a config load and without closing a
// client's keep-alive connection; a hostname change still is a route push.

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { describe, test } from 'node:test';
import { Client } from 'undici';
import { createServiceRouter } from '../../router/service-routes.ts';
import { startUpstreamDns, type UpstreamDns } from '../../router/upstream-dns.ts';
import { startUpstreamSource } from '../../router/upstream-source.ts';
import { adminRaw, startCaddyFixture, startUpstream, viaCaddy, type CaddyFixture, type Upstream } from './caddy-harness.ts';

function resolverFor(dns: UpstreamDns): Resolver {
  const resolver = new Resolver({ timeout: 1_000, tries: 1 });
  resolver.setServers([`${dns.host}:${dns.port}`]);
  return resolver;
}

async function withDns(fn: (dns: UpstreamDns) => Promise<void>, resolveHost?: (host: string) => Promise<string>): Promise<void> {
  const dns = await startUpstreamDns({ addr: '127.0.0.1:0', ...(resolveHost ? { resolveHost } : {}) });
  try {
    await fn(dns);
  } finally {
    await dns.close();
  }
}

describe('upstream DNS responder over UDP', () => {
  test('answers SRV per service and A for the targets; unknown names are NXDOMAIN', () => withDns(async (dns) => {
    assert.match(dns.resolverAddress, /^udp\/127\.0\.0\.1:\d+$/);
    assert.equal(await dns.publish('web', ['127.0.0.1:22002', '127.0.0.1:22001', '127.0.0.1:22001']), true);
    assert.equal(await dns.publish('web', ['127.0.0.1:22001', '127.0.0.1:22002']), false, 'same set in another order is no change');
    const resolver = resolverFor(dns);
    const srv = await resolver.resolveSrv('web.srv.forge.internal');
    assert.deepEqual(srv.map((r) => `${r.name}:${r.port}`).sort(), ['127-0-0-1.ip4.forge.internal:22001', '127-0-0-1.ip4.forge.internal:22002']);
    assert.deepEqual(await resolver.resolve4('127-0-0-1.ip4.forge.internal'), ['127.0.0.1']);
    await assert.rejects(resolver.resolveSrv('other.srv.forge.internal'), { code: 'ENOTFOUND' });
    dns.remove('web');
    await assert.rejects(resolver.resolveSrv('web.srv.forge.internal'), { code: 'ENOTFOUND' });
  }));

  test('an instance host that is a name is resolved when published; one that does not resolve is left out', () => withDns(async (dns) => {
    await dns.publish('web', ['agent-1.lan:9000', 'nowhere.lan:9001']);
    assert.deepEqual(dns.targets('web'), [{ target: '10-1-2-3.ip4.forge.internal.', port: 9000 }]);
  }, async (host) => {
    if (host === 'agent-1.lan') return '10.1.2.3';
    throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  }));

  test('garbage datagrams get no answer and do not stop the responder', () => withDns(async (dns) => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.send(Buffer.from('not dns'), dns.port, dns.host, () => resolve()));
    socket.close();
    await dns.publish('web', ['127.0.0.1:22001']);
    assert.equal((await resolverFor(dns).resolveSrv('web.srv.forge.internal')).length, 1);
  }));

  test('when FORGE_DNS_ADDR cannot be bound, upstreams fall back to static and the notice says so', async () => {
    const holder = createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', () => resolve()));
    const addr = `127.0.0.1:${holder.address().port}`;
    try {
      const source = await startUpstreamSource({ env: { FORGE_DNS_ADDR: addr } });
      assert.equal(source.options, undefined);
      assert.match(source.notice, new RegExp(`upstreams are static: the DNS responder could not bind ${addr} \\(EADDRINUSE`));
      const off = await startUpstreamSource({ env: { FORGE_DNS_ADDR: 'off' } });
      assert.equal(off.options, undefined);
      assert.match(off.notice, /FORGE_DNS_ADDR=off/);
      // A caddy on another host cannot reach a loopback responder: static, and the notice says what to set.
      const remote = await startUpstreamSource({ env: { FORGE_DNS_ADDR: '127.0.0.1:0' }, caddyOnLoopback: false });
      assert.equal(remote.options, undefined);
      assert.match(remote.notice, /caddy is on another host and the DNS responder address 127\.0\.0\.1:0 is loopback \(set FORGE_DNS_ADDR/);
    } finally {
      holder.close();
    }
  });
});

/** Config loads so far: caddy logs this once per load. */
function caddyLoads(fx: CaddyFixture): number {
  return readFileSync(fx.caddy.logPath, 'utf8').split('"msg":"stopped previous server"').length - 1;
}

describe('service router with DNS upstreams through real caddy', () => {
  test('upstream changes reach caddy with no config load and no closed client connection; hostnames still push the route', async () => {
    const fx = await startCaddyFixture();
    const ups: Upstream[] = await Promise.all(['A', 'B'].map((tag) => startUpstream(tag)));
    const dns = await startUpstreamDns({ addr: '127.0.0.1:0' });
    const client = new Client(`http://${fx.httpAddr}`, { pipelining: 1 });
    let disconnects = 0;
    client.on('disconnect', () => { disconnects += 1; });
    const viaKeepAlive = async () => {
      const res = await client.request({ path: '/', method: 'GET', headers: { host: 'web.localhost' } });
      return `${res.statusCode} ${await res.body.text()}`;
    };
    try {
      const router = createServiceRouter({ client: fx.client, domain: 'localhost', dns: { responder: dns, refreshMs: 200, marginMs: 200 } });
      router.replaceAll(new Map());
      await router.set('web', { domains: [], upstreams: [ups[0]!.addr] });
      assert.equal(await viaKeepAlive(), '200 A /');
      const loads = caddyLoads(fx);

      // set() resolves once caddy's refresh has passed: from then on B answers.
      await router.set('web', { domains: [], upstreams: [ups[1]!.addr] });
      assert.equal(await viaKeepAlive(), '200 B /');
      await router.set('web', { domains: [], upstreams: [ups[0]!.addr, ups[1]!.addr] });
      const seen = new Set<string>();
      for (let i = 0; i < 6; i += 1) seen.add(await viaKeepAlive());
      assert.deepEqual([...seen].sort(), ['200 A /', '200 B /']);
      await router.set('web', { domains: [], upstreams: [] });
      assert.equal(await viaKeepAlive(), '503 ');
      assert.equal(caddyLoads(fx), loads, 'no caddy config load for upstream changes');
      assert.equal(disconnects, 0, 'the keep-alive connection to caddy was never closed');

      // A new hostname is a route change: one push.
      await router.set('web', { domains: ['www.web.test'], upstreams: [ups[1]!.addr] });
      assert.ok(caddyLoads(fx) > loads);
      assert.equal((await viaCaddy(fx.httpAddr, 'www.web.test')).body, 'B /');

      // Caddy loaded empty: one sync puts the route back, and it answers from the live DNS set at once.
      assert.equal((await adminRaw(fx.caddy.adminUrl, 'POST', '/load', { admin: { listen: fx.adminAddr } })).status, 200);
      await router.sync();
      assert.equal((await viaCaddy(fx.httpAddr, 'web.localhost')).body, 'B /');

      await router.remove('web');
      assert.equal((await adminRaw(fx.caddy.adminUrl, 'GET', '/id/forge-web')).status, 404);
      assert.equal(dns.targets('web'), undefined);
    } finally {
      await client.close();
      await dns.close();
      await Promise.all(ups.map((u) => u.close()));
      await fx.stop();
    }
  });
});

describe('detaching DNS upstreams (the control plane stopping with an external caddy)', () => {
  test('routes get their upstreams written in, so caddy keeps serving after the responder is gone', async () => {
    const fx = await startCaddyFixture();
    const up = await startUpstream('A');
    const dns = await startUpstreamDns({ addr: '127.0.0.1:0' });
    let dnsOpen = true;
    try {
      const router = createServiceRouter({ client: fx.client, domain: 'localhost', dns: { responder: dns, refreshMs: 200, marginMs: 200 } });
      router.replaceAll(new Map());
      await router.set('web', { domains: [], upstreams: [up.addr] });
      assert.equal((await viaCaddy(fx.httpAddr, 'web.localhost')).body, 'A /');
      await router.detachDns();
      const live = await adminRaw(fx.caddy.adminUrl, 'GET', '/id/forge-web');
      assert.deepEqual((live.json as { handle: Array<{ upstreams?: unknown }> }).handle[0]!.upstreams, [{ dial: up.addr }]);
      await dns.close();
      dnsOpen = false;
      // Longer than caddy's refresh: a dynamic route would now fail its lookup.
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal((await viaCaddy(fx.httpAddr, 'web.localhost')).body, 'A /');
    } finally {
      if (dnsOpen) await dns.close();
      await up.close();
      await fx.stop();
    }
  });
});
