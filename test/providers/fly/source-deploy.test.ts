import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { ForgeError } from '../../../errors/index.ts';
import {
  defaultImageLabel, flyctlBuildCommand, imageFromOutput, prepareSourceDeploy, runFlyctlBuild,
  type ChildLike, type SpawnFn,
} from '../../../providers/fly/source-deploy.ts';
import { assertNoContractViolations } from '../../fakes/fly.ts';
import { createFlyProvider } from '../../../providers/fly/provider.ts';
import { OWNER, PROJECT, rig } from './helpers.ts';

interface Spawned {
  command: string;
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** A spawn that records what it was asked to run and plays a scripted outcome. */
function fakeSpawn(outcome: { exit?: number; error?: string; output?: string }): { spawn: SpawnFn; calls: Spawned[] } {
  const calls: Spawned[] = [];
  const spawn: SpawnFn = (command, args, options) => {
    calls.push({ command, args, cwd: options.cwd, env: options.env });
    const child = Object.assign(new EventEmitter(), { stdout: new PassThrough(), stderr: new PassThrough(), kill: () => true });
    setImmediate(() => {
      if (outcome.error) {
        child.emit('error', Object.assign(new Error(`spawn ${command} ${outcome.error}`), { code: outcome.error }));
        return;
      }
      if (outcome.output) child.stdout.write(outcome.output);
      child.stdout.end();
      child.stderr.end();
      setImmediate(() => child.emit('close', outcome.exit ?? 0, null));
    });
    return child as unknown as ChildLike;
  };
  return { spawn, calls };
}

const TOKEN = 'FlyV1 fm2_secret-token-value';
const base = { dir: '/src/web', app: 'web-p1', token: TOKEN, label: 'deployment-20240102030405' };

describe('flyctl build command', () => {
  it('builds on the remote builder only, with the scoped token replacing any other Fly token', () => {
    const { args, env } = flyctlBuildCommand({ ...base, env: { PATH: '/usr/bin', HOME: '/home/u', FLY_API_TOKEN: 'operator', FLY_ACCESS_TOKEN: 'operator2' } });
    assert.deepEqual(args, ['deploy', '/src/web', '--app', 'web-p1', '--remote-only', '--build-only', '--image-label', 'deployment-20240102030405']);
    assert.deepEqual(env, { PATH: '/usr/bin', HOME: '/home/u', FLY_API_TOKEN: TOKEN, NO_COLOR: '1' });
  });

  it('passes a non-default Dockerfile', () => {
    const { args } = flyctlBuildCommand({ ...base, dockerfile: 'docker/Dockerfile.prod', env: {} });
    assert.deepEqual(args.slice(-2), ['--dockerfile', 'docker/Dockerfile.prod']);
  });

  it('refuses a label that is not a Docker tag', () => {
    assert.throws(() => flyctlBuildCommand({ ...base, label: '-bad tag', env: {} }), (e: unknown) => e instanceof ForgeError && e.code === 'E_USAGE');
  });

  it('labels by UTC time like flyctl does, and reads the pushed image from the output', () => {
    assert.equal(defaultImageLabel(Date.UTC(2024, 0, 2, 3, 4, 5)), 'deployment-20240102030405');
    assert.equal(imageFromOutput('==> Building\nimage: registry.fly.io/web-p1:deployment-1\nimage size: 40 MB', 'x'), 'registry.fly.io/web-p1:deployment-1');
    assert.equal(imageFromOutput('no image line', 'registry.fly.io/web-p1:l'), 'registry.fly.io/web-p1:l');
  });
});

describe('runFlyctlBuild', () => {
  it('runs flyctl in the source directory and returns the image reference', async () => {
    const { spawn, calls } = fakeSpawn({ output: 'pushing\nimage: registry.fly.io/web-p1:deployment-20240102030405\n' });
    const res = await runFlyctlBuild({ ...base, flyctl: '/opt/fly/flyctl', env: { PATH: '/bin' }, spawn });
    assert.deepEqual(res, { imageRef: 'registry.fly.io/web-p1:deployment-20240102030405' });
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.command, '/opt/fly/flyctl');
    assert.equal(calls[0]!.cwd, '/src/web');
    assert.equal(calls[0]!.env['FLY_API_TOKEN'], TOKEN);
    assert.deepEqual(calls[0]!.args.slice(0, 2), ['deploy', '/src/web']);
  });

  it('a missing flyctl is an E_USAGE error naming flyctl and how to install it', async () => {
    const { spawn } = fakeSpawn({ error: 'ENOENT' });
    await assert.rejects(runFlyctlBuild({ ...base, env: {}, spawn }), (e: unknown) => {
      assert.ok(e instanceof ForgeError);
      assert.equal(e.code, 'E_USAGE');
      assert.match(e.message, /flyctl was not found/);
      assert.match(e.message, /fly\.io\/install\.sh/);
      return true;
    });
  });

  it('a failed build is E_BUILD_FAILED with the output tail and never the token', async () => {
    const { spawn } = fakeSpawn({ exit: 1, output: `Error: failed to fetch an image or build from source (auth ${TOKEN})\n` });
    const seen: string[] = [];
    await assert.rejects(runFlyctlBuild({ ...base, env: {}, spawn, onOutput: (t) => seen.push(t) }), (e: unknown) => {
      assert.ok(e instanceof ForgeError);
      assert.equal(e.code, 'E_BUILD_FAILED');
      assert.match(e.message, /exited with code 1; run the deploy again to resume/);
      assert.match(e.message, /auth \[token\]/);
      assert.equal(e.message.includes(TOKEN), false);
      return true;
    });
    assert.equal(seen.join('').includes(TOKEN), false);
  });

  it('really spawning a binary that does not exist gives the same E_USAGE error', async () => {
    await assert.rejects(runFlyctlBuild({ ...base, dir: process.cwd(), flyctl: '/nonexistent/forge-test/flyctl', env: { PATH: '/nonexistent' } }), (e: unknown) => e instanceof ForgeError && e.code === 'E_USAGE');
  });
});

describe('prepareSourceDeploy against the fake', () => {
  it('creates the app shell with IPs and mints a 20-minute token scoped to it; re-running after a failed build resumes', async () => {
    const r = await rig();
    try {
      const t0 = Date.UTC(2024, 0, 2, 3, 4, 5);
      const first = await prepareSourceDeploy(r.provider, 'web', { now: () => t0 });
      assert.equal(first.app, 'web-p1');
      assert.equal(first.label, 'deployment-20240102030405');
      assert.equal(first.imageRef, 'registry.fly.io/web-p1:deployment-20240102030405');
      const app = r.fake.world.apps.get('web-p1')!;
      assert.deepEqual(app.deployTokens.map((t) => [t.token === first.token, t.expiry]), [[true, '1200s']]);
      assert.deepEqual(app.ips.map((ip) => ip.type), ['shared_v4', 'v6']);
      assert.equal(r.fake.liveMachines('web-p1').length, 0);

      // The build failed (nothing remote changed); a new control plane process runs the deploy again.
      const { spawn } = fakeSpawn({ exit: 1 });
      await assert.rejects(runFlyctlBuild({ ...base, token: first.token, label: first.label, env: {}, spawn }));
      const again = createFlyProvider({ client: r.client, org: r.fake.org, projectId: PROJECT, controlPlaneId: OWNER, waitTimeoutSeconds: 5 });
      const second = await again.prepareSourceDeploy('web', { label: 'v2' });
      assert.equal(second.app, 'web-p1');
      assert.equal(second.imageRef, 'registry.fly.io/web-p1:v2');
      assert.equal(r.fake.world.apps.get('web-p1')!.deployTokens.length, 2);
      assert.equal(r.fake.world.apps.get('web-p1')!.ips.length, 2);
      assertNoContractViolations(r.fake);
    } finally {
      await r.close();
    }
  });
});
