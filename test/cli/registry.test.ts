// `forge registry`: credentials go in through stdin (never argv), are stored sealed,
// listed without the password, and removed again.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cliHarness, type CliHarness } from './helpers.ts';

let h: CliHarness;
before(async () => { h = await cliHarness({ withLoop: false }); });
after(async () => { await h?.close(); });

test('login reads the password from stdin, list never shows it, logout removes it', async () => {
  const login = await h.run(['registry', 'login', 'ghcr.io', '--username', 'me', '--password-stdin'], { readStdin: async () => 'tok-Secret-991\n' });
  assert.equal(login.exitCode, 0, login.stderr);
  assert.equal(login.stdout, 'stored credentials for ghcr.io (user me)\n');
  const row = h.api.store.registries.get('ghcr.io');
  assert.equal(row?.username, 'me');
  assert.ok(!row!.ciphertext.toString('latin1').includes('tok-Secret-991'), 'sealed, not plain');
  const list = await h.run(['registry', 'list', '--json']);
  assert.equal(list.exitCode, 0);
  assert.ok(!list.stdout.includes('tok-Secret-991'));
  assert.deepEqual((JSON.parse(list.stdout) as { registries: Array<{ host: string }> }).registries.map((r) => r.host), ['ghcr.io']);
  assert.equal((await h.run(['registry', 'logout', 'ghcr.io'])).exitCode, 0);
  assert.equal(h.api.store.registries.get('ghcr.io'), undefined);
  const again = await h.run(['registry', 'logout', 'ghcr.io']);
  assert.equal(again.exitCode, 1);
  assert.match(again.stderr, /no credentials stored for registry ghcr.io/);
});

test('a bad host and a missing username are clear usage errors', async () => {
  const bad = await h.run(['registry', 'login', 'not a host', '--username', 'me'], { readStdin: async () => 'x' });
  assert.equal(bad.exitCode, 1);
  assert.match(bad.stderr, /is not a registry host/);
  const noUser = await h.run(['registry', 'login', 'ghcr.io']);
  assert.equal(noUser.exitCode, 2);
  assert.match(noUser.stderr, /give --username/);
});
