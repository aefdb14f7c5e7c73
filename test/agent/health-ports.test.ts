// Which TCP ports a set of processes listens on: the /proc/net/tcp parser on fixed text, and
// the reader against a real listening process.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { listeningPortsOf, parseListeningSockets } from '../../agent/runner/health-ports.ts';
import { freePort } from '../helpers/net.ts';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 34826 1 00000000ab6497a3 100 0 0 10 0
   1: 0100007F:A9B6 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 40001 1 00000000b31f9322 20 4 30 10 -1
   2: 00000000:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 28181 1 00000000b31f9322 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1538 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 51234 1 0000000000000000 100 0 0 10 0
`;

test('parseListeningSockets keeps LISTEN rows (state 0A) with their port and inode, IPv4 and IPv6', () => {
  assert.deepEqual(parseListeningSockets(TCP), [
    { address: '0100007F', port: 8080, inode: 34826 },
    { address: '00000000', port: 3000, inode: 28181 },
  ]);
  assert.deepEqual(parseListeningSockets(TCP6), [{ address: '00000000000000000000000000000000', port: 5432, inode: 51234 }]);
  assert.deepEqual(parseListeningSockets(''), []);
  assert.deepEqual(parseListeningSockets('garbage\n  0: nonsense\n'), []);
});

test('listeningPortsOf names the ports the given processes listen on, and only theirs', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  const [mine, other] = [await freePort(), await freePort()];
  const listen = (port: number) => spawn(process.execPath, ['-e', `require('net').createServer().listen(${port}, '127.0.0.1', () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const app = listen(mine);
  const bystander = listen(other);
  try {
    for (const child of [app, bystander]) await new Promise((resolve) => child.stdout!.once('data', resolve));
    assert.deepEqual(await listeningPortsOf([app.pid!]), [mine]);
    assert.deepEqual(await listeningPortsOf([app.pid!, bystander.pid!]), [mine, other].sort((a, b) => a - b));
    assert.deepEqual(await listeningPortsOf([2 ** 22 + 12_345]), []); // no such process: nothing, no error
  } finally {
    app.kill();
    bystander.kill();
  }
});
