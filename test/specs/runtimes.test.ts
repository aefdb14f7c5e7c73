// specs/runtimes.ts: the names `runtime` accepts (the schema's enum is the same list)
// and which reported runtime satisfies each.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SERVICE_SCHEMA } from '../../specs/schema.ts';
import { findRuntime, KNOWN_RUNTIMES, versionFrom, type AgentRuntime } from '../../specs/runtimes.ts';

test('the schema enum lists exactly the runtimes Forge knows', () => {
  const runtime = (SERVICE_SCHEMA as unknown as { properties: { runtime: { enum: string[] } } }).properties.runtime;
  assert.deepEqual(runtime.enum, KNOWN_RUNTIMES);
});

test('findRuntime: a family takes any version, a pin its major or major.minor', () => {
  const have: AgentRuntime[] = [
    { name: 'node', version: '20.11.1', path: '/usr/bin/node' },
    { name: 'python', version: '3.11.7', path: '/usr/bin/python3' },
    { name: 'python', version: '3.12.1', path: '/opt/py312/bin/python3.12' },
  ];
  const cases: Array<[string, string | undefined]> = [
    ['node', '/usr/bin/node'], ['node20', '/usr/bin/node'], ['node22', undefined], ['python3', '/usr/bin/python3'],
    ['python3.12', '/opt/py312/bin/python3.12'], ['python3.1', undefined], ['go', undefined], ['cobol85', undefined],
  ];
  for (const [runtime, path] of cases) assert.equal(findRuntime(runtime, have)?.path, path, runtime);
});

test('versionFrom reads what each binary prints', () => {
  assert.equal(versionFrom('v20.11.1\n'), '20.11.1');
  assert.equal(versionFrom('Python 3.11.7'), '3.11.7');
  assert.equal(versionFrom('go version go1.22.1 linux/amd64'), '1.22.1');
  assert.equal(versionFrom('ruby 3.2.2p53 (2023-03-30 revision e51014f9c0) [x86_64-linux]'), '3.2.2');
  assert.equal(versionFrom('nothing'), undefined);
});
