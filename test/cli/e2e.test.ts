// bin/forge as a child process against a real `forge server` child process (its
// own data dir, a free port, Fly pointed at the in-process Fly fake), the way a
// person runs them. Only the server pid this test started is signalled.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFlyFake, type FlyFake } from '../fakes/fly.ts';
import { eventually } from '../helpers/net.ts';

const BIN = new URL('../../bin/forge', import.meta.url).pathname;

interface Run { code: number; stdout: string; stderr: string }

function forge(args: string[], env: Record<string, string>, cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 90_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('bin/forge against a real forge server', () => {
  let dir: string;
  let fly: FlyFake;
  let server: ChildProcess | undefined;
  let env: Record<string, string>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'forge-cli-e2e-'));
    fly = await startFlyFake({ transitionMs: 2 });
    const base = { HOME: dir, FORGE_DATA_DIR: join(dir, 'data') };
    const created = await forge(['keys', 'create', '--json'], base, dir);
    assert.equal(created.code, 0, created.stderr);
    const key = (JSON.parse(created.stdout) as { key: string }).key;
    const port = await freePort();
    server = spawn(process.execPath, [BIN, 'server', '--no-local-agent'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ...base, FORGE_API_ADDR: `127.0.0.1:${port}`, FLY_API_TOKEN: fly.token, FLY_ORG: fly.org, FLY_API_HOSTNAME: fly.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`forge server did not start:\n${output}`)), 60_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('API listening on')) {
          clearTimeout(timer);
          resolve();
        }
      };
      server!.stdout!.on('data', onData);
      server!.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
      server!.once('exit', (code) => { clearTimeout(timer); reject(new Error(`forge server exited ${code}:\n${output}`)); });
    });
    server.stdout!.resume();
    server.stderr!.resume();
    env = { HOME: dir, FORGE_URL: `http://127.0.0.1:${port}`, FORGE_API_KEY: key };
    writeFileSync(join(dir, 'web.yaml'), 'name: web\nimage: nginx:1\n');
  });

  after(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    await fly?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('validate and list', async () => {
    assert.deepEqual(await forge(['validate', 'web.yaml'], env, dir), { code: 0, stdout: 'ok  1 service\n', stderr: '' });
    assert.deepEqual(await forge(['list'], env, dir), { code: 0, stdout: 'no services (create one with forge deploy or forge apply)\n', stderr: '' });
  });

  test('deploy --image --provider agent: refused before anything is written, with the reason (agents run source-mode services)', async () => {
    const result = await forge(['deploy', '--name', 'web', '--image', 'nginx:1', '--provider', 'agent', '--timeout', '60s'], env, dir);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    // Without an agent provider on the control plane it is not configured; with one, it cannot run images.
    const refused = /^forge deploy: E_COMPUTE_NOT_CONFIGURED: provider agent is not configured on this control plane/;
    const cannot = /^forge deploy: E_SPEC_INVALID: service web: provider agent does not run images/;
    assert.ok(refused.test(result.stderr) || cannot.test(result.stderr), result.stderr);
    assert.equal((await forge(['get', 'web'], env, dir)).code, 1, 'no row was written');
  });

  test('deploy --image to Fly runs, get --json shows it, delete --yes removes it', async () => {
    // No --provider: the image goes to a configured provider that runs images (Defects 13.7).
    const deployed = await forge(['deploy', '--name', 'site', '--image', 'registry.fly.io/site:1', '--port', '8080', '--timeout', '60s'], env, dir);
    assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
    assert.match(deployed.stdout, /^created site \(generation 1, \w+\)\n/);
    assert.match(deployed.stdout, /\nsite: running( at \S+)?\n$/);

    const got = await forge(['get', 'site', '--json'], env, dir);
    assert.equal(got.code, 0, got.stderr);
    const service = JSON.parse(got.stdout);
    assert.deepEqual([service.name, service.provider, service.status, service.image, service.generation, service.observedGeneration],
      ['site', 'fly', 'running', 'registry.fly.io/site:1', 1, 1]);
    assert.equal(service.instances.length, 1);

    const deleted = await forge(['delete', 'site', '--yes'], env, dir);
    assert.deepEqual(deleted, { code: 0, stderr: '', stdout: 'deleting site (generation 1, 1 instance); the control plane destroys it in the background\n' });
    // Until the provider has torn it down the service reads as destroying (issue 13.11); then it is gone.
    const missing = await eventually('site to be gone', 30_000, async () => {
      const got = await forge(['get', 'site', '--json'], env, dir);
      if (got.code === 0) {
        assert.equal(JSON.parse(got.stdout).status, 'destroying');
        return undefined;
      }
      return got;
    });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^forge get: E_NOT_FOUND: /);
  });
});
