// Defects 13.22: `forge events` and GET …/:id/events show Fly's machine lifecycle
// events (launch, start, exit with its code, OOM) merged with Forge's own, oldest
// first, each marked by its source. The Fly side is the real provider and client
// against the Fly fake, which checks every request and answer against Fly's OpenAPI
// contract.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoContractViolations } from '../fakes/fly.ts';
import { rig, spec } from '../providers/fly/helpers.ts';
import { cliHarness } from '../cli/helpers.ts';

interface EventJson { id: number | null; time: string; type: string; reason: string; message: string; source: string }

test('Defects 13.22: a Fly service\'s events hold the machine\'s lifecycle events, marked by source (API and CLI)', async () => {
  const fly = await rig();
  const cli = await cliHarness({ withLoop: false, providerEvents: (key) => fly.provider.events(key) });
  try {
    const created = await cli.api.app.inject({
      method: 'POST', url: '/api/compute/services', headers: cli.api.auth(), payload: { name: 'web', image: 'registry.example/app:1', provider: 'fly' },
    });
    assert.equal(created.statusCode, 201);
    cli.api.store.events.append('web', { type: 'Normal', reason: 'Create', message: 'replica 0 is missing' });
    const { instanceId } = await fly.provider.apply({ kind: 'create', key: 'web', replica: 0, spec: spec('web'), hash: 'h1', generation: 1, reason: 'new' }, { secrets: {} });
    fly.fake.exitMachine('web-p1', instanceId!, 137, true);

    const res = await cli.api.app.inject({ method: 'GET', url: '/api/compute/services/web/events', headers: cli.api.auth() });
    assert.equal(res.statusCode, 200);
    const events = res.json() as EventJson[];
    const fromFly = events.filter((e) => e.source === 'fly');
    assert.deepEqual(fromFly.map((e) => [e.type, e.reason]), [['Normal', 'Launch'], ['Normal', 'Start'], ['Warning', 'Exit']]);
    assert.match(fromFly[2]!.message, new RegExp(`^\\[fly/flyd\\] exit: stopped \\(machine ${instanceId}, exit code 137, OOM killed\\)$`));
    assert.deepEqual(events.filter((e) => e.source === 'forge').map((e) => e.reason), ['Create']);
    assert.equal(fromFly.every((e) => e.id === null), true, 'provider events have no store id');
    const times = events.map((e) => Date.parse(e.time));
    assert.deepEqual(times, [...times].sort((a, b) => a - b), 'oldest first');

    const out = await cli.run(['events', 'web']);
    assert.equal(out.exitCode, 0, out.stderr);
    assert.match(out.stdout, /Warning {2}Exit: \[fly\/flyd\] exit: stopped \(machine \S+, exit code 137, OOM killed\)/);
    assert.match(out.stdout, /Normal {2}Create: replica 0 is missing/);
    assertNoContractViolations(fly.fake);
  } finally {
    await cli.close();
    await fly.close();
  }
});
