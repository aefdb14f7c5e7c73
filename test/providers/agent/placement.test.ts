// The scheduler as tables (exact placements and reasons) and properties (never
// overcommits, same input same output, order of input does not matter).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  place, type ExistingPlacement, type PlacementRequest, type SchedulableAgent,
} from '../../../providers/agent/placement.ts';

const MB = 1024 * 1024;
const agent = (id: string, cpus: number, memoryMb: number, online = true): SchedulableAgent => ({
  id, online, capacity: { cpus, memoryBytes: memoryMb * MB },
});
const req = (key: string, replica: number, cpus: number, memoryMb: number): PlacementRequest => ({
  key, replica, cpus, memoryBytes: memoryMb * MB,
});
const held = (agentId: string, key: string, replica: number, cpus: number, memoryMb: number): ExistingPlacement => ({
  agentId, key, replica, cpus, memoryBytes: memoryMb * MB,
});

describe('place: tables', () => {
  const cases: Array<{
    name: string;
    requests: PlacementRequest[];
    agents: SchedulableAgent[];
    existing?: ExistingPlacement[];
    placements: Array<[string, number, string]>;
    unschedulable?: Array<[string, number, string]>;
  }> = [
    {
      name: 'one replica goes to the agent with the most free memory',
      requests: [req('web', 0, 0.5, 256)],
      agents: [agent('a', 2, 1024), agent('b', 2, 4096)],
      placements: [['web', 0, 'b']],
    },
    {
      name: 'equal headroom: the lower agent id wins',
      requests: [req('web', 0, 0.5, 256)],
      agents: [agent('b', 2, 1024), agent('a', 2, 1024)],
      placements: [['web', 0, 'a']],
    },
    {
      name: 'replicas of one service spread before headroom counts',
      requests: [req('web', 0, 0.5, 256), req('web', 1, 0.5, 256), req('web', 2, 0.5, 256)],
      agents: [agent('a', 2, 1024), agent('b', 2, 8192)],
      placements: [['web', 0, 'b'], ['web', 1, 'a'], ['web', 2, 'b']],
    },
    {
      name: 'existing instances reserve headroom and count for spread',
      requests: [req('web', 1, 0.5, 256)],
      agents: [agent('a', 2, 1024), agent('b', 2, 1024)],
      existing: [held('a', 'api', 0, 0.5, 512), held('b', 'web', 0, 0.5, 256)],
      placements: [['web', 1, 'a']],
    },
    {
      name: 'an offline agent gets nothing and its instances reserve nothing (they are re-placed)',
      requests: [req('web', 0, 1, 512)],
      agents: [agent('a', 2, 1024, false), agent('b', 2, 1024)],
      existing: [held('a', 'web', 0, 1, 512)],
      placements: [['web', 0, 'b']],
    },
    {
      name: 'no fit: memory short names the need and the most free',
      requests: [req('web', 0, 0.5, 512)],
      agents: [agent('a', 2, 300), agent('b', 2, 200)],
      placements: [],
      unschedulable: [['web', 0, 'needs 512 MB memory, the most free on any agent is 300 MB']],
    },
    {
      name: 'no fit: CPU short',
      requests: [req('web', 0, 2, 128)],
      agents: [agent('a', 1, 1024)],
      existing: [held('a', 'x', 0, 0.25, 128)],
      placements: [],
      unschedulable: [['web', 0, 'needs 2 CPU, the most free on any agent is 0.75']],
    },
    {
      name: 'no fit: both short',
      requests: [req('web', 0, 4, 4096)],
      agents: [agent('a', 1, 1024)],
      placements: [],
      unschedulable: [['web', 0, 'needs 4096 MB memory and 4 CPU, the most free on any agent is 1024 MB memory and 1 CPU']],
    },
    {
      name: 'no fit: each resource exists, never together',
      requests: [req('web', 0, 1, 512)],
      agents: [agent('a', 0.5, 1024), agent('b', 2, 256)],
      placements: [],
      unschedulable: [['web', 0, 'needs 512 MB memory and 1 CPU on one agent; no agent has both free ' +
        '(most memory: 1024 MB on a with 0.5 CPU; most CPU: 2 on b with 256 MB)']],
    },
    {
      name: 'no agents online',
      requests: [req('web', 0, 0.5, 256)],
      agents: [agent('a', 2, 1024, false)],
      placements: [],
      unschedulable: [['web', 0, 'needs 256 MB memory and 0.5 CPU, but no agent is online (1 registered, all offline)']],
    },
    {
      name: 'no agents at all',
      requests: [req('web', 0, 0.5, 256)],
      agents: [],
      placements: [],
      unschedulable: [['web', 0, 'needs 256 MB memory and 0.5 CPU, but no agent is registered']],
    },
    {
      name: 'bigger requests are placed first so they are not starved by small ones',
      requests: [req('small', 0, 0.5, 256), req('big', 0, 0.5, 768)],
      agents: [agent('a', 2, 1024)],
      placements: [['big', 0, 'a'], ['small', 0, 'a']],
    },
    {
      name: 'fractional CPUs add up exactly to capacity',
      requests: [req('a', 0, 0.1, 1), req('b', 0, 0.2, 1), req('c', 0, 0.7, 1)],
      agents: [agent('x', 1, 1024)],
      placements: [['a', 0, 'x'], ['b', 0, 'x'], ['c', 0, 'x']].sort() as Array<[string, number, string]>,
    },
  ];

  for (const c of cases) {
    test(c.name, () => {
      const result = place(c.requests, c.agents, c.existing ?? []);
      const placements = result.placements.map((p) => [p.key, p.replica, p.agentId]);
      if (c.name.startsWith('fractional')) placements.sort();
      assert.deepEqual(placements, c.placements);
      assert.deepEqual(result.unschedulable.map((u) => [u.key, u.replica, u.reason]), c.unschedulable ?? []);
    });
  }
});

describe('place: properties', () => {
  const agentsArb = fc.uniqueArray(
    fc.record({
      id: fc.stringMatching(/^[a-e][0-9]$/),
      online: fc.boolean(),
      capacity: fc.record({ cpus: fc.integer({ min: 0, max: 8 }).map((n) => n / 2), memoryBytes: fc.integer({ min: 0, max: 16 }).map((n) => n * 256 * MB) }),
    }),
    { selector: (a) => a.id, maxLength: 8 },
  );
  const requestsArb = fc.uniqueArray(
    fc.record({
      key: fc.constantFrom('web', 'api', 'worker', 'db'),
      replica: fc.integer({ min: 0, max: 4 }),
      cpus: fc.integer({ min: 1, max: 8 }).map((n) => n / 4),
      memoryBytes: fc.integer({ min: 1, max: 8 }).map((n) => n * 128 * MB),
    }),
    { selector: (r) => `${r.key}/${r.replica}`, maxLength: 30 },
  );

  test('never overcommits an agent, places only on online agents, accounts for every request', () => {
    fc.assert(fc.property(agentsArb, requestsArb, (agents, requests) => {
      const result = place(requests, agents, []);
      assert.equal(result.placements.length + result.unschedulable.length, requests.length);
      for (const a of agents) {
        const mine = result.placements.filter((p) => p.agentId === a.id);
        if (!a.online) assert.equal(mine.length, 0);
        const reqs = mine.map((p) => requests.find((r) => r.key === p.key && r.replica === p.replica)!);
        assert.ok(reqs.reduce((s, r) => s + r.memoryBytes, 0) <= a.capacity.memoryBytes);
        assert.ok(reqs.reduce((s, r) => s + r.cpus, 0) <= a.capacity.cpus + 1e-9);
      }
    }), { numRuns: 300 });
  });

  test('deterministic: the same input, in any order, gives the same placements', () => {
    fc.assert(fc.property(agentsArb, requestsArb, fc.integer(), (agents, requests, seed) => {
      const first = place(requests, agents, []);
      const shuffle = <T>(xs: T[]) => xs.map((x, i) => ({ x, k: (i * 7919 + seed) % 104_729 })).sort((a, b) => a.k - b.k).map((e) => e.x);
      const second = place(shuffle([...requests]), shuffle([...agents]), []);
      assert.deepEqual(second, first);
    }), { numRuns: 300 });
  });

  test('a request that fits some online agent alone is placed when it is the only request', () => {
    fc.assert(fc.property(agentsArb, requestsArb, (agents, requests) => {
      for (const r of requests.slice(0, 3)) {
        const fitsSomewhere = agents.some((a) => a.online && a.capacity.cpus >= r.cpus && a.capacity.memoryBytes >= r.memoryBytes);
        assert.equal(place([r], agents, []).placements.length, fitsSomewhere ? 1 : 0);
      }
    }), { numRuns: 200 });
  });
});

describe('place: runtimes (issue 13 item 14)', () => {
  const node20 = { name: 'node', version: '20.11.1', path: '/usr/bin/node' };
  const python311 = { name: 'python', version: '3.11.7', path: '/usr/bin/python3.11' };
  const python312 = { name: 'python', version: '3.12.1', path: '/opt/py/bin/python3' };
  const withRuntimes = (a: SchedulableAgent, runtimes: typeof node20[]): SchedulableAgent => ({ ...a, runtimes });

  test('a request with a runtime goes only where that runtime (and version) is installed', () => {
    const agents = [
      withRuntimes(agent('big', 8, 8192), [node20]),
      withRuntimes(agent('small', 2, 1024), [node20, python311]),
      withRuntimes(agent('mid', 4, 4096), [python312]),
    ];
    const cases: Array<[string | undefined, string]> = [
      ['node20', 'big'], ['node', 'big'], ['python3.11', 'small'], ['python3', 'mid'], ['python3.12', 'mid'], [undefined, 'big'],
    ];
    for (const [runtime, where] of cases) {
      const { placements } = place([{ ...req('web', 0, 0.5, 256), ...(runtime ? { runtime } : {}) }], agents, []);
      assert.deepEqual(placements.map((p) => p.agentId), [where], String(runtime));
    }
  });

  test('no online agent has the runtime: unschedulable, saying which runtimes the agents have', () => {
    const agents = [withRuntimes(agent('a', 2, 1024), [node20, python311]), withRuntimes(agent('b', 2, 1024, false), [{ ...node20, version: '18.19.0' }])];
    assert.deepEqual(place([{ ...req('web', 0, 0.5, 256), runtime: 'node18' }], agents, []).unschedulable, [{
      key: 'web', replica: 0, reason: 'needs runtime node18, which no online agent has (they have node 20.11.1, python 3.11.7)',
    }]);
    assert.deepEqual(place([{ ...req('web', 0, 0.5, 256), runtime: 'ruby' }], [agent('c', 2, 1024)], []).unschedulable, [{
      key: 'web', replica: 0, reason: 'needs runtime ruby, which no online agent has (they report no runtimes)',
    }]);
  });

  test('the runtime is there but the room is not: the usual shortfall among the agents that have it', () => {
    const agents = [withRuntimes(agent('a', 2, 8192), []), withRuntimes(agent('b', 2, 200), [node20])];
    assert.deepEqual(place([{ ...req('web', 0, 0.5, 256), runtime: 'node20' }], agents, []).unschedulable, [{
      key: 'web', replica: 0, reason: 'needs 256 MB memory, the most free on any agent with runtime node20 is 200 MB',
    }]);
  });
});
