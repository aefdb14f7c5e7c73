// The cloud provider's client lists a remote compute API in either shape: the bare
// array of InsForge Compute and Forge's API v2, or `{ services }` from a Forge before v2.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCloudClient } from '../../../providers/cloud/client.ts';

const SERVICE = { id: 'svc_1', name: 'web', status: 'running' };

test('list() reads a bare array (v2, InsForge) and { services } (Forge v1)', async () => {
  let answer: unknown = [];
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = createCloudClient({ host: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, projectId: 'p1', maxAttempts: 1 });
  try {
    answer = [SERVICE];
    assert.deepEqual((await client.list()).map((s) => s.name), ['web']);
    answer = { services: [SERVICE] };
    assert.deepEqual((await client.list()).map((s) => s.name), ['web']);
    answer = {};
    assert.deepEqual(await client.list(), []);
  } finally {
    await client.close();
    await new Promise((resolve) => server.close(resolve));
  }
});
