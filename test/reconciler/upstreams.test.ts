import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseUpstreams } from '../../reconciler/upstreams.ts';
import { makeDesired, makeInstance, makeSpec } from '../helpers/spec.ts';
import type { ObservedInstance } from '../../providers/types.ts';

const v1 = makeSpec({ image: 'web:1', replicas: 2 });
const v2 = makeSpec({ image: 'web:2', replicas: 2 });
const desired = makeDesired(v2);
const at = (i: ObservedInstance, port: number) => ({ ...i, address: `127.0.0.1:${port}` });
const observe = (...instances: ObservedInstance[]) => ({ key: 'web', instances });

const cases: Array<{ name: string; instances: ObservedInstance[]; options?: Parameters<typeof chooseUpstreams>[2]; expected: ReturnType<typeof chooseUpstreams> }> = [
  {
    name: 'a settled release serves all its ready instances',
    instances: [at(makeInstance('a', 0, v2), 1), at(makeInstance('b', 1, v2), 2)],
    expected: { upstreams: ['127.0.0.1:1', '127.0.0.1:2'], serving: 'desired' },
  },
  {
    name: 'mid-cutover the old release keeps all traffic until every new replica is ready',
    instances: [
      at(makeInstance('o0', 0, v1), 1), at(makeInstance('o1', 1, v1), 2),
      at(makeInstance('n0', 0, v2), 3), at(makeInstance('n1', 1, v2, { state: 'starting', health: 'unknown' }), 4),
    ],
    expected: { upstreams: ['127.0.0.1:1', '127.0.0.1:2'], serving: 'previous' },
  },
  {
    name: 'the route flips to the new release once every replica is ready',
    instances: [
      at(makeInstance('o0', 0, v1), 1), at(makeInstance('o1', 1, v1), 2),
      at(makeInstance('n0', 0, v2), 3), at(makeInstance('n1', 1, v2), 4),
    ],
    expected: { upstreams: ['127.0.0.1:3', '127.0.0.1:4'], serving: 'desired' },
  },
  {
    name: 'a bad release never gets traffic',
    instances: [at(makeInstance('o0', 0, v1), 1), at(makeInstance('n0', 0, v2), 3), at(makeInstance('n1', 1, v2), 4)],
    options: { badRelease: true },
    expected: { upstreams: ['127.0.0.1:1'], serving: 'previous' },
  },
  {
    name: 'instances about to stop are left out first',
    instances: [at(makeInstance('a', 0, v2), 1), at(makeInstance('b', 1, v2), 2)],
    options: { excluding: new Set(['b']) },
    expected: { upstreams: ['127.0.0.1:1'], serving: 'desired' },
  },
  {
    name: 'unhealthy, starting and address-less instances get nothing: the route answers 503',
    instances: [at(makeInstance('a', 0, v2, { health: 'unhealthy' }), 1), makeInstance('b', 1, v2)],
    expected: { upstreams: [], serving: 'none' },
  },
  {
    name: 'a first deploy serves new replicas as they become ready',
    instances: [at(makeInstance('a', 0, v2), 1), at(makeInstance('b', 1, v2, { state: 'starting', health: 'unknown' }), 2)],
    expected: { upstreams: ['127.0.0.1:1'], serving: 'desired' },
  },
];

for (const c of cases) {
  test(`upstreams: ${c.name}`, () => {
    assert.deepEqual(chooseUpstreams(desired, observe(...c.instances), c.options), c.expected);
  });
}

test('upstreams: a stopped or deleting service routes nowhere', () => {
  const instances = observe(at(makeInstance('a', 0, v2), 1));
  assert.deepEqual(chooseUpstreams({ ...desired, state: 'stopped' }, instances), { upstreams: [], serving: 'none' });
  assert.deepEqual(chooseUpstreams({ ...desired, deleting: true }, instances), { upstreams: [], serving: 'none' });
});
