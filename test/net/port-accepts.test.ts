import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { portAccepts } from '../../net/port-accepts.ts';
import { probeAdminAddress } from '../../router/caddy-probe.ts';

async function listen(): Promise<net.Server> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

test('portAccepts: a listening loopback port accepts; the same port once closed does not', async () => {
  const server = await listen();
  const { port } = server.address() as AddressInfo;
  assert.equal(await portAccepts(port, '127.0.0.1', 1_000), true);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.equal(await portAccepts(port, '127.0.0.1', 1_000), false);
});

test('probeAdminAddress (router) uses the same check: a non-caddy listener is "other", a closed port "free"', async () => {
  const server = await listen();
  const { port } = server.address() as AddressInfo;
  try {
    assert.equal(await probeAdminAddress(`127.0.0.1:${port}`, 1_000), 'other');
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  assert.equal(await probeAdminAddress(`127.0.0.1:${port}`, 1_000), 'free');
});
