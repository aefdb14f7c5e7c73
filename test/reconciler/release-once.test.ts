// Exactly once, across a control plane killed mid-run: the run is recorded as started
// before the provider is asked to start it, so a restarted control plane that finds a
// started run with no result reports it ("may have run") and never starts it again.
// Real SQLite store; the provider is a small in-memory one whose one-off can hang forever
// (the control plane "dies" while waiting for it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../store/index.ts';
import { createController } from '../../reconciler/controller.ts';
import type { Action, ObservedInstance, OneOffRequest, OneOffResult, Provider } from '../../providers/types.ts';
import { makeSpec } from '../helpers/spec.ts';
import { specHash } from '../../specs/hash.ts';

function fakeProvider(oneOff: (r: OneOffRequest) => Promise<OneOffResult>, instances: ObservedInstance[] = []) {
  const calls: OneOffRequest[] = [];
  const applied: Action[] = [];
  const provider: Provider = {
    name: 'agent',
    capabilities: { updateInPlace: false, routing: 'provider', runsImages: true, oneOffs: true },
    async observe() {
      return instances.length ? [{ key: 'web', instances: [...instances] }] : [];
    },
    async apply(action) {
      applied.push(action);
      if (action.kind === 'create' || action.kind === 'replace') {
        if (action.kind === 'replace') instances.splice(instances.findIndex((i) => i.id === action.instanceId), 1);
        instances.push({ id: `i${applied.length}`, key: 'web', replica: action.replica, hash: action.hash, generation: action.generation, spec: action.spec, region: 'iad', state: 'running', health: 'healthy' });
      }
      return {};
    },
    async events() { return []; },
    runOneOff(request) {
      calls.push(request);
      return oneOff(request);
    },
  };
  return { provider, calls, applied, instances };
}

function controllerOn(store: Store, provider: Provider) {
  return createController({ store, provider: () => provider, providers: () => [provider], secretsFor: () => ({ DB_PASSWORD: 'hunter2' }), now: Date.now, pollMs: 10 });
}

function upsert(store: Store, image: string, hash?: string) {
  const spec = makeSpec({ image, release: { command: './migrate', timeoutMs: 60_000 } });
  return store.services.upsert({ name: 'web', spec, hash: hash ?? specHash(spec), source: 'test' }).row;
}

test('a release command that may have run (started, no result: the control plane died) is reported, never started again', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-release-once-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let store = openStore(dir);
  // Release 1 runs its command and rolls out.
  const ok = fakeProvider(async () => ({ exitCode: 0, lastLines: [], message: 'exited' }));
  const first = controllerOn(store, ok.provider);
  upsert(store, 'registry.example/web:1');
  for (let i = 0; i < 4; i += 1) await first.reconcile('web');
  assert.equal(ok.calls.length, 1);
  assert.equal(store.status.get('web')?.phase, 'running');

  // Release 2: the command starts and the control plane dies while it runs (the promise never settles).
  const hung = fakeProvider(() => new Promise<OneOffResult>(() => undefined), ok.instances);
  const dying = controllerOn(store, hung.provider);
  const g2 = upsert(store, 'registry.example/web:2');
  void dying.reconcile('web');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(hung.calls.length, 1, 'the command was started');
  assert.equal(store.releaseCommands.get(g2.id, g2.generation)?.state, 'started');
  store.close();

  // A new control plane on the same database: it must not start the command again.
  store = openStore(dir);
  t.after(() => store.close());
  const again = fakeProvider(async () => ({ exitCode: 0, lastLines: [], message: 'exited' }), ok.instances);
  const restarted = controllerOn(store, again.provider);
  for (let i = 0; i < 4; i += 1) await restarted.reconcile('web');
  assert.equal(again.calls.length, 0, 'a release command that may have run was started a second time');
  assert.equal(again.applied.filter((a) => a.kind === 'create' || a.kind === 'replace').length, 0, 'the new release was rolled out');
  const row = store.releaseCommands.get(g2.id, g2.generation)!;
  assert.equal(row.state, 'unknown');
  const status = store.status.get('web')!;
  assert.equal(status.phase, 'failed');
  assert.match(status.lastError?.message ?? '', /the release command may have run: it started at .* and no result was recorded/);
  assert.doesNotMatch(JSON.stringify(store.events.list('web')), /hunter2/);
  assert.equal(store.releases.get('web', g2.generation)?.outcome, 'failed');

  // The operator checked and retries: a restart is a new release, whose command runs once.
  const g3 = upsert(store, 'registry.example/web:2', 'restart-hash');
  for (let i = 0; i < 4; i += 1) await restarted.reconcile('web');
  assert.equal(again.calls.length, 1);
  assert.equal(again.calls[0]!.generation, g3.generation);
  assert.equal(store.status.get('web')?.phase, 'running');
});

test('a run that certainly never started (no agent took it) is taken back and retried', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-release-once-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = openStore(dir);
  t.after(() => store.close());
  let failures = 1;
  const flaky = fakeProvider(async () => {
    if (failures-- > 0) {
      const { ForgeError } = await import('../../errors/index.ts');
      throw new ForgeError('E_UNSCHEDULABLE', 'no agent took it');
    }
    return { exitCode: 0, lastLines: [], message: 'exited' };
  });
  const controller = controllerOn(store, flaky.provider);
  const row = upsert(store, 'registry.example/web:1');
  const outcome = await controller.reconcile('web');
  assert.equal(outcome.result, 'error');
  assert.equal(store.releaseCommands.get(row.id, row.generation), null, 'the started row was taken back');
  for (let i = 0; i < 4; i += 1) await controller.reconcile('web');
  assert.equal(flaky.calls.length, 2);
  assert.equal(store.status.get('web')?.phase, 'running');
});
