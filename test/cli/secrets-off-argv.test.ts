// Secrets never need to be in argv (issue 15.5): `forge secrets set` takes values
// from stdin (KEY=-), a file (--from-file) or an environment variable
// (--from-env), and `forge agent` takes its registration token from a file or
// FORGE_AGENT_TOKEN. Values are checked where they land (decrypted from the
// store) and searched for in everything printed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSecrets } from '../../api/secrets.ts';
import { parseAgentArgs } from '../../cli/agent.ts';
import type { CliResult } from '../../cli/index.ts';
import { cliHarness, type CliHarness } from './helpers.ts';

const FROM_STDIN = 'stdin-canary-41c7';
const FROM_FILE = 'file-canary-9d02';
const FROM_ENV = 'env-canary-77ab';

describe('secret values from stdin, a file or the environment', () => {
  let h: CliHarness;
  const run = (argv: string[], extra?: Parameters<CliHarness['run']>[1]): Promise<CliResult> => h.run(argv, extra);
  before(async () => {
    h = await cliHarness();
    writeFileSync(join(h.home, 'key.txt'), `${FROM_FILE}\n`);
    assert.equal((await run(['deploy', '--name', 'web', '--image', 'nginx:1', '--no-wait'])).exitCode, 0);
  });
  after(async () => {
    await h.close();
    for (const text of h.printed) for (const canary of [FROM_STDIN, FROM_FILE, FROM_ENV]) assert.ok(!text.includes(canary), 'a secret value was printed');
  });

  test('KEY=- reads stdin; --from-file reads a file; --from-env reads a variable; one trailing newline dropped', async () => {
    const result = await run(['secrets', 'set', 'web', 'API_TOKEN=-', '--from-file', 'TLS_KEY=key.txt', '--from-env=DB_PASSWORD=PGPASS', 'PLAIN=x'], {
      readStdin: async () => `${FROM_STDIN}\n`, env: { PGPASS: FROM_ENV },
    });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^set API_TOKEN, PLAIN, TLS_KEY, DB_PASSWORD on web /);
    assert.deepEqual(openSecrets(h.api.store, h.api.cipher, 'web'), { API_TOKEN: FROM_STDIN, DB_PASSWORD: FROM_ENV, PLAIN: 'x', TLS_KEY: FROM_FILE });
  });

  test('mistakes name the key, path or variable, never a value; nothing is sent', async () => {
    const cases: [string[], string][] = [
      [['secrets', 'set', 'web', 'A=-', 'B=-'], 'forge secrets set: only one KEY=- can read stdin (got A, B)'],
      [['secrets', 'set', 'web', '--from-file', 'A=missing.txt'], 'forge secrets set: --from-file: cannot read missing.txt (ENOENT)'],
      [['secrets', 'set', 'web', '--from-file', 'A'], 'forge secrets set: --from-file needs KEY=PATH'],
      [['secrets', 'set', 'web', '--from-env', 'A=NOT_SET_ANYWHERE'], 'forge secrets set: --from-env: NOT_SET_ANYWHERE is not set in this environment'],
      [['secrets', 'set', 'web', 'A=1', '--from-env', 'A=PGPASS'], 'forge secrets set: a KEY was given more than once'],
      [['secrets', 'unset', 'web', '--from-file', 'A=key.txt'], 'forge secrets unset: --from-file and --from-env belong to secrets set'],
    ];
    const generation = h.api.store.services.get('web')!.generation;
    for (const [argv, message] of cases) {
      const result = await run(argv, { env: { PGPASS: FROM_ENV } });
      assert.equal(result.exitCode, 2, argv.join(' '));
      assert.ok(result.stderr.startsWith(`${message}\n`), result.stderr);
    }
    const noStdin = await run(['secrets', 'set', 'web', 'A=-']);
    assert.ok(noStdin.stderr.startsWith('forge secrets set: KEY=- reads the value from stdin, and there is no stdin to read\n'), noStdin.stderr);
    assert.equal(h.api.store.services.get('web')!.generation, generation, 'a refused command changed the service');
  });
});

describe('forge agent: the registration token from a file or the environment', () => {
  test('--token-file reads and trims the file; FORGE_AGENT_TOKEN is used without a flag', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'forge-agent-token-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'token');
    writeFileSync(file, 'tok-from-file\n', { mode: 0o600 });
    const fromFile = parseAgentArgs(['--server', 'http://cp:1', '--token-file', file], { cwd: '/', env: {} });
    assert.equal(typeof fromFile === 'string' ? fromFile : fromFile.token, 'tok-from-file');
    const fromEnv = parseAgentArgs(['--server=http://cp:1'], { cwd: '/', env: { FORGE_AGENT_TOKEN: 'tok-from-env' } });
    assert.equal(typeof fromEnv === 'string' ? fromEnv : fromEnv.token, 'tok-from-env');
    assert.equal(parseAgentArgs(['--server', 'http://cp:1', '--token-file', '/nonexistent/token'], { cwd: '/', env: {} }),
      'forge agent: --token-file: cannot read /nonexistent/token (ENOENT)');
    assert.equal(parseAgentArgs(['--server', 'http://cp:1', '--token-file', file, '--token', 'x'], { cwd: '/', env: {} }),
      'forge agent: give --token-file or --token, not both');
  });
});
