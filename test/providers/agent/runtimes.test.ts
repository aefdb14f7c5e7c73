// `runtime` means something on agents (issue 13 item 14), with real agents: each
// reports the runtimes it found at start, a service is placed only where its runtime
// is, its build runs with that runtime first on PATH, and a runtime no agent has is
// a clear E_UNSCHEDULABLE.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AgentHandle } from '../../../agent/daemon.ts';
import type { ServiceSpec } from '../../../specs/types.ts';
import { eventually, httpText, loadExample, startControlPlane, type ControlPlane } from './harness.ts';

const needsRoot = process.getuid?.() === 0 ? false : 'needs root for cgroups and namespaces';
const GB = 1024 ** 3;
const nodeMajor = process.versions.node.split('.')[0];
// Fails unless the first PATH entry is the directory holding the node the build finds.
const NODE_FIRST = 'first="${PATH%%:*}"; test -x "$first/node" || { echo "PATH does not start with node\'s directory: $PATH"; exit 1; }';

describe('runtimes on agents', { skip: needsRoot }, () => {
  let cp: ControlPlane;
  let bare: AgentHandle;
  let equipped: AgentHandle;
  let hello: ServiceSpec;

  before(async () => {
    cp = await startControlPlane({ heartbeatTimeoutMs: 1_500, leaseMs: 5_000 });
    hello = await loadExample('node-hello');
  });
  after(async () => {
    await cp?.close();
  });

  test('an agent reports the runtimes it found at start, with versions', async () => {
    // A roomier agent whose PATH holds no runtime at all.
    bare = await cp.startAgent('bare', { portRange: { from: 23_700, to: 23_749 }, capacity: { cpus: 4, memoryBytes: 4 * GB }, runtimePath: '/nonexistent' });
    equipped = await cp.startAgent('equipped', { portRange: { from: 23_750, to: 23_799 }, capacity: { cpus: 2, memoryBytes: 1 * GB } });
    assert.deepEqual(cp.store.agents.get(bare.id)?.runtimes, []);
    const found = cp.store.agents.get(equipped.id)?.runtimes ?? [];
    const node = found.find((r) => r.name === 'node');
    assert.equal(node?.version, process.versions.node);
    assert.equal(path.isAbsolute(node?.path ?? ''), true);
  });

  test('a service is placed where its runtime is, and builds with it first on PATH', async () => {
    const spec: ServiceSpec = {
      ...hello, name: 'rt-node', runtime: `node${nodeMajor}`,
      build: { commands: [NODE_FIRST, ...(hello.build?.commands ?? [])] },
    };
    cp.deploy([spec]);
    const instance = await eventually('rt-node running', 60_000, async () => {
      const [i] = (await cp.observed('rt-node'))?.instances ?? [];
      const status = cp.store.status.get('rt-node');
      if (status?.phase === 'failed') throw new Error(`failed: ${JSON.stringify(status.lastError)}`);
      return status?.phase === 'running' && i?.health === 'healthy' ? i : undefined;
    });
    assert.equal(instance.agent, equipped.id, 'not on the roomier agent that has no node');
    assert.equal(await httpText(instance.address!, '/health'), '200 ok');
  });

  test('a runtime no agent has is a clear E_UNSCHEDULABLE, and nothing runs', async () => {
    const other = nodeMajor === '18' ? 'node22' : 'node18';
    cp.deploy([{ ...hello, name: 'rt-missing', runtime: other }]);
    const status = await eventually('rt-missing refused a placement', 30_000, () => {
      const s = cp.store.status.get('rt-missing');
      return s?.lastError?.code === 'E_UNSCHEDULABLE' ? s : undefined;
    });
    assert.match(status.lastError!.message, new RegExp(`cannot place rt-missing replica 0: needs runtime ${other}, which no online agent has \\(they have node ${process.versions.node.replaceAll('.', '\\.')}`));
    assert.equal((await cp.observed('rt-missing'))?.instances.length ?? 0, 0);
  });
});
