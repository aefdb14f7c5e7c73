// Issue 13.18: a service in CrashLoopBackOff says so (Ready condition reason,
// the API's statusReason that `forge list` and the dashboard show), and a
// restart after a crash is a Warning event, not a Normal one.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serviceJson } from '../../api/service-json.ts';
import { makeSpec } from '../helpers/spec.ts';
import { startHarness } from '../helpers/reconciler.ts';

test('a replica that keeps crashing: Warning restarts, then CrashLoopBackOff in the status and the API', async () => {
  const h = startHarness();
  try {
    h.apply('file:test', [makeSpec({ name: 'web' })]);
    await h.converge();
    const crash = async () => {
      const [instance] = h.provider.world.all();
      h.provider.world.setState(instance!.id, 'failed');
      await h.provider.resync?.(true);
    };
    await crash();
    await h.converge(); // the first crash is replaced at once
    const restarts = h.store.events.list('web').filter((e) => e.reason === 'Replace');
    assert.deepEqual(restarts.map((e) => e.type), ['Warning']);

    await crash(); // the second waits out the back-off (converge() would wait for it: one pass only)
    await h.loop.idle();
    await h.loop.resync();
    await h.loop.idle();
    const status = h.store.status.get('web')!;
    const ready = status.conditions.find((c) => c.type === 'Ready')!;
    assert.deepEqual([ready.status, ready.reason], ['False', 'CrashLoopBackOff']);
    assert.match(ready.message, /^CrashLoopBackOff: restarting in \d+s$/);
    const [observed] = await h.provider.observe(['web']);
    const json = serviceJson(h.store.services.get('web')!, status, [], observed);
    assert.equal(json.statusReason, 'CrashLoopBackOff');
  } finally {
    await h.close();
  }
});

test('a healthy service has no status reason; a plain spec change is a Normal replace', async () => {
  const h = startHarness({ updateInPlace: false });
  try {
    h.apply('file:test', [makeSpec({ name: 'web' })]);
    await h.converge();
    h.apply('file:test', [makeSpec({ name: 'web', image: 'registry.example/web:2' })]);
    await h.converge();
    assert.deepEqual(h.store.events.list('web').filter((e) => e.reason === 'Replace').map((e) => e.type), ['Normal']);
    const [observed] = await h.provider.observe(['web']);
    assert.equal(serviceJson(h.store.services.get('web')!, h.store.status.get('web'), [], observed).statusReason, null);
  } finally {
    await h.close();
  }
});
