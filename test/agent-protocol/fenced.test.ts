// A deposed leader that comes back (resumed after a pause) refuses writes under its old term. The
// agent protocol answers such a refusal 503 E_FENCED, which the agent must read as "this replica
// cannot serve, try another", never as a lost lease (409), which would abort work that is
// legitimately running.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { test } from 'node:test';
import { createProtocolClient } from '../../agent/protocol-client.ts';
import { ForgeError } from '../../errors/index.ts';
import { fencedError } from '../../store/pg-engine.ts';

test('a fenced write is E_FENCED, answered 503 (retryable), not the 409 of a lost lease', () => {
  const error = fencedError(3, 4);
  assert.equal(error.code, 'E_FENCED');
  assert.equal(error.httpStatus, 503);
  assert.equal(error.terminal, false);
});

test('progress and result answered 503 E_FENCED by every replica: an error, not a lost lease; the next replica is tried', async () => {
  const hits: number[] = [0, 0];
  const servers: Server[] = [];
  const urls: string[] = [];
  for (const i of [0, 1]) {
    const server = createServer((req, res) => {
      hits[i]! += 1;
      req.resume();
      const error = fencedError(3, 4);
      req.on('end', () => res.writeHead(error.httpStatus, { 'content-type': 'application/json' }).end(JSON.stringify({ error: error.code, message: error.message })));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    urls.push(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  }
  try {
    const client = createProtocolClient(urls.join(','));
    client.setCredentials('a1', 'token');
    await assert.rejects(client.progress('t1', []), (e: ForgeError) => e.code === 'E_FENCED');
    await assert.rejects(client.result('t1', { ok: true }), (e: ForgeError) => e.code === 'E_FENCED');
    assert.ok(hits[0]! > 0 && hits[1]! > 0, 'both replicas were tried');
  } finally {
    for (const server of servers) await new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  }
});
