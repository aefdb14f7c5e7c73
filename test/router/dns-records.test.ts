import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import {
  addressOfTarget, answerQuestion, dnsProxyHandler, serviceOfSrvName, srvName, srvTargetOf, targetName, type SrvTarget,
} from '../../router/dns-records.ts';
import { desiredRoute } from '../../router/routes.ts';

describe('DNS upstream names', () => {
  test('a service has one fully qualified SRV name, and it reads back', () => {
    assert.equal(srvName('Web-1'), 'web-1.srv.forge.internal.');
    assert.equal(serviceOfSrvName('web-1.srv.forge.internal.'), 'web-1');
    assert.equal(serviceOfSrvName('WEB-1.SRV.forge.internal'), 'web-1');
    assert.equal(serviceOfSrvName('web.srv.example.com.'), null);
    assert.equal(serviceOfSrvName('a.b.srv.forge.internal.'), null);
  });

  test('an instance address becomes a target name that encodes its IP (Go drops IP-literal SRV targets)', () => {
    assert.deepEqual(srvTargetOf('127.0.0.1:22001'), { target: '127-0-0-1.ip4.forge.internal.', port: 22001 });
    assert.deepEqual(srvTargetOf('[::1]:8080'), { target: '00000000000000000000000000000001.ip6.forge.internal.', port: 8080 });
    assert.deepEqual(addressOfTarget('127-0-0-1.ip4.forge.internal.'), { family: 4, ip: '127.0.0.1' });
    assert.deepEqual(addressOfTarget(targetName('fd00::a:1')), { family: 6, ip: 'fd00:0000:0000:0000:0000:0000:000a:0001' });
    assert.equal(addressOfTarget('300-0-0-1.ip4.forge.internal.'), null);
    assert.equal(addressOfTarget('example.com.'), null);
  });

  test('addresses that are not ip:port have no target (the responder resolves host names first)', () => {
    for (const bad of ['localhost:80', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '[::ffff:1.2.3.4]:80', '']) {
      assert.equal(srvTargetOf(bad), null, bad);
    }
  });
});

describe('answerQuestion', () => {
  const published = new Map<string, SrvTarget[]>([
    ['web', [srvTargetOf('127.0.0.1:22001')!, srvTargetOf('127.0.0.1:22002')!]],
    ['idle', []],
  ]);
  const lookup = (service: string) => published.get(service);

  test('SRV: one record per instance, target and port, TTL 1', () => {
    assert.deepEqual(answerQuestion({ name: 'web.srv.forge.internal', type: 'SRV' }, lookup), {
      rcode: 'NOERROR',
      answers: [
        { name: 'web.srv.forge.internal', type: 'SRV', ttl: 1, data: { priority: 10, weight: 10, port: 22001, target: '127-0-0-1.ip4.forge.internal' } },
        { name: 'web.srv.forge.internal', type: 'SRV', ttl: 1, data: { priority: 10, weight: 10, port: 22002, target: '127-0-0-1.ip4.forge.internal' } },
      ],
    });
  });

  test('a published service without instances answers NOERROR with no record; an unknown one NXDOMAIN', () => {
    assert.deepEqual(answerQuestion({ name: 'idle.srv.forge.internal', type: 'SRV' }, lookup), { rcode: 'NOERROR', answers: [] });
    assert.deepEqual(answerQuestion({ name: 'gone.srv.forge.internal', type: 'SRV' }, lookup), { rcode: 'NXDOMAIN', answers: [] });
    assert.deepEqual(answerQuestion({ name: 'example.com', type: 'A' }, lookup), { rcode: 'NXDOMAIN', answers: [] });
  });

  test('targets: A for an IPv4 name, an empty answer for AAAA (the dialer asks both)', () => {
    assert.deepEqual(answerQuestion({ name: '127-0-0-1.ip4.forge.internal', type: 'A' }, lookup), {
      rcode: 'NOERROR', answers: [{ name: '127-0-0-1.ip4.forge.internal', type: 'A', ttl: 1, data: '127.0.0.1' }],
    });
    assert.deepEqual(answerQuestion({ name: '127-0-0-1.ip4.forge.internal', type: 'AAAA' }, lookup), { rcode: 'NOERROR', answers: [] });
  });
});

describe('routes with DNS upstreams', () => {
  const dns = { resolver: 'udp/127.0.0.1:5380', refreshMs: 1000 };

  test('the route names the service and the responder, never an instance: a new upstream set is the same route', () => {
    const one = desiredRoute({ name: 'web', domain: 'localhost', upstreams: ['127.0.0.1:22001'], dns });
    const other = desiredRoute({ name: 'web', domain: 'localhost', upstreams: ['127.0.0.1:22005', '127.0.0.1:22006'], dns });
    const none = desiredRoute({ name: 'web', domain: 'localhost', upstreams: [], dns });
    assert.deepEqual(one, other);
    assert.deepEqual(one, none);
    assert.deepEqual(one.handle, [dnsProxyHandler('web', dns)]);
    assert.deepEqual(one.handle?.[0], {
      handler: 'reverse_proxy',
      dynamic_upstreams: { source: 'srv', name: 'web.srv.forge.internal.', refresh: '1000ms', resolver: { addresses: ['udp/127.0.0.1:5380'] }, dial_timeout: '2s' },
      transport: { protocol: 'http', resolver: { addresses: ['udp/127.0.0.1:5380'] } },
      load_balancing: { selection_policy: { policy: 'round_robin' }, try_duration: '2s' },
    });
  });

  test('hostnames still shape the route', () => {
    const before = desiredRoute({ name: 'web', domain: 'localhost', upstreams: [], dns });
    const after = desiredRoute({ name: 'web', domain: 'localhost', domains: ['www.example.com'], upstreams: [], dns });
    assert.notDeepEqual(before.match, after.match);
  });
});
