// Issue 13.18: `forge list` shows why a service is not what its phase says
// (CrashLoopBackOff) in the STATUS column, instead of a bare `running 0/1`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServiceJson } from '../../api/service-json.ts';
import { painter, servicesTable } from '../../cli/format.ts';

function service(overrides: Partial<ServiceJson>): ServiceJson {
  return {
    id: 'svc_1', name: 'web', provider: 'agent', status: 'running', statusReason: null, generation: 2, observedGeneration: 2,
    url: null, conditions: [], envKeys: [], image: null, port: 8080, cpu: '0.5', memory: 256, region: 'iad', replicas: 1,
    source: 'api', desiredState: 'running', instances: [], createdAt: '', updatedAt: '', ...overrides,
  };
}

test('the STATUS column carries the status reason of a crash-looping service', () => {
  const text = servicesTable([
    service({ name: 'web', statusReason: 'CrashLoopBackOff' }),
    service({ name: 'api', instances: [{ id: 'i', region: 'iad', port: 1, url: null, state: 'running', health: 'healthy' }] }),
  ], painter(false));
  assert.equal(text, [
    'NAME  STATUS                      PROVIDER  REPLICAS  URL',
    'web   running (CrashLoopBackOff)  agent     0/1       -',
    'api   running                     agent     1/1       -',
    '',
  ].join('\n'));
});
