// The wait loop's progress line (issue 13 item 13): while a deploy is held up, it
// says why, from the service's conditions, instead of only "waiting for health".

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServiceJson } from '../../api/service-json.ts';
import { progressLine } from '../../cli/wait.ts';

const T = '2026-01-01T00:00:00.000Z';
const base = {
  name: 'web', status: 'deploying', generation: 2, observedGeneration: 1, desiredState: 'running', url: null, replicas: 1,
  instances: [], conditions: [
    { type: 'Progressing', status: 'True', reason: 'Converging', message: 'applying 1 action(s): replace', lastTransitionTime: T },
    { type: 'Ready', status: 'False', reason: 'Deploying', message: 'applying 1 action(s): replace', lastTransitionTime: T },
  ],
} as unknown as ServiceJson;

test('progressLine: a plain deploy waits for health', () => {
  assert.equal(progressLine(base), 'web: deploying (waiting for health 0/1)');
});

test('progressLine: a stop-then-start rollout and a failing action say why the deploy waits', () => {
  const rollout = { type: 'Rollout', status: 'True', reason: 'StopThenStart', message: 'no agent has room for a new instance of web beside the old one: needs 0.5 CPU', lastTransitionTime: T };
  assert.equal(progressLine({ ...base, conditions: [...base.conditions, rollout] } as ServiceJson),
    'web: deploying (waiting for health 0/1): no agent has room for a new instance of web beside the old one: needs 0.5 CPU');
  const failing = { type: 'Ready', status: 'False', reason: 'ProviderError', message: 'cannot place web replica 0: needs 512 MB memory', lastTransitionTime: T };
  assert.equal(progressLine({ ...base, conditions: [base.conditions[0]!, failing] } as ServiceJson),
    'web: deploying (waiting for health 0/1): cannot place web replica 0: needs 512 MB memory');
});
