import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ForgeError } from '../../errors/index.ts';
import { chooseProvider, createConfiguredProviders, flyProjectId, selectProviders, type Env } from '../../providers/select.ts';
import type { ProviderName } from '../../specs/types.ts';
import { makeSpec } from '../helpers/spec.ts';
import { startFlyFake, assertNoContractViolations } from '../fakes/fly.ts';
import { startCloudFake } from '../fakes/cloud.ts';

const configured = (env: Env) => {
  const s = selectProviders(env);
  return { fly: s.fly.configured, cloud: s.cloud.configured, agent: s.agent.configured, flyReason: s.fly.reason, cloudReason: s.cloud.reason };
};

describe('selectProviders', () => {
  const table: [string, Env, { fly: boolean; cloud: boolean; cloudReason?: string; flyReason?: string }][] = [
    ['nothing set: agents only', {}, { fly: false, cloud: false, flyReason: 'FLY_API_TOKEN is not set', cloudReason: 'PROJECT_ID is not set' }],
    ['fly token and org', { FLY_API_TOKEN: 't', FLY_ORG: 'acme' }, { fly: true, cloud: false, flyReason: 'FLY_API_TOKEN is set; deploying into Fly org acme' }],
    ['fly wins over cloud', { FLY_API_TOKEN: 't', FLY_ORG: 'acme', PROJECT_ID: 'p', CLOUD_API_HOST: 'h' }, { fly: true, cloud: false, cloudReason: 'not used: FLY_API_TOKEN is set, so cloud compute runs on Fly' }],
    ['cloud: project and host', { PROJECT_ID: 'p1', CLOUD_API_HOST: 'api.example' }, { fly: false, cloud: true, cloudReason: 'PROJECT_ID p1 on api.example' }],
    ['cloud: local project does not count', { PROJECT_ID: 'local', CLOUD_API_HOST: 'api.example' }, { fly: false, cloud: false, cloudReason: 'PROJECT_ID is `local`: no remote project to deploy into' }],
    ['cloud: host missing', { PROJECT_ID: 'p1' }, { fly: false, cloud: false, cloudReason: 'CLOUD_API_HOST is not set' }],
    ['blank values are unset', { FLY_API_TOKEN: '  ', PROJECT_ID: '', CLOUD_API_HOST: 'h' }, { fly: false, cloud: false, cloudReason: 'PROJECT_ID is not set' }],
  ];
  for (const [name, env, want] of table) {
    it(name, () => {
      const got = configured(env);
      assert.equal(got.fly, want.fly);
      assert.equal(got.cloud, want.cloud);
      assert.equal(got.agent, true);
      if (want.flyReason) assert.equal(got.flyReason, want.flyReason);
      if (want.cloudReason) assert.equal(got.cloudReason, want.cloudReason);
    });
  }

  it('FLY_API_TOKEN without FLY_ORG is a start-up E_USAGE error naming FLY_ORG', () => {
    assert.throws(() => selectProviders({ FLY_API_TOKEN: 'secret-token' }), (e: unknown) => {
      assert.ok(e instanceof ForgeError);
      assert.equal(e.code, 'E_USAGE');
      assert.match(e.message, /FLY_ORG/);
      assert.equal(e.message.includes('secret-token'), false);
      return true;
    });
  });

  it('never puts a token in a reason', () => {
    const s = selectProviders({ FLY_API_TOKEN: 'tok-123', FLY_ORG: 'acme' });
    assert.equal(JSON.stringify(s).includes('tok-123'), false);
  });
});

describe('flyProjectId', () => {
  it('is PROJECT_ID when set, else a stable hash of the org', () => {
    assert.equal(flyProjectId({ PROJECT_ID: 'Proj7', FLY_ORG: 'acme' }), 'proj7');
    const a = flyProjectId({ FLY_ORG: 'acme' });
    assert.match(a, /^f[0-9a-f]{8}$/);
    assert.equal(flyProjectId({ FLY_ORG: 'acme', PROJECT_ID: 'local' }), a);
    assert.notEqual(flyProjectId({ FLY_ORG: 'other' }), a);
  });
});

describe('createConfiguredProviders', () => {
  it('builds nothing for agents only', () => {
    assert.deepEqual(createConfiguredProviders(selectProviders({}), {}, { controlPlaneId: 'cp_0000000000000001' }), []);
  });

  it('builds a working fly provider from the environment', async () => {
    const fake = await startFlyFake();
    const env = { FLY_API_TOKEN: fake.token, FLY_ORG: fake.org, FLY_API_HOSTNAME: fake.url, PROJECT_ID: 'p9' };
    const providers = createConfiguredProviders(selectProviders(env), env, { controlPlaneId: 'cp_0000000000000001' });
    try {
      assert.deepEqual(providers.map((p) => p.name), ['fly']);
      assert.deepEqual(await providers[0]!.observe(), []);
      assertNoContractViolations(fake);
      assert.deepEqual(fake.requests.map((q) => `${q.method} ${q.path} ${q.status}`), [`GET /v1/orgs/${fake.org}/machines 200`]);
    } finally {
      for (const p of providers) await p.close?.();
      await fake.close();
    }
  });

  it('builds a working cloud provider from the environment', async () => {
    const fake = await startCloudFake();
    const env = { PROJECT_ID: fake.projectId, CLOUD_API_HOST: fake.url, CLOUD_API_KEY: fake.apiKey };
    const providers = createConfiguredProviders(selectProviders(env), env, { controlPlaneId: 'cp_0000000000000001' });
    try {
      assert.deepEqual(providers.map((p) => p.name), ['cloud']);
      assert.deepEqual(await providers[0]!.observe(), []);
      assert.deepEqual(fake.requests.map((q) => q.status), [200]);
    } finally {
      for (const p of providers) await p.close?.();
      await fake.close();
    }
  });
});

describe('chooseProvider (Defects 13.7): by capabilities, never by name', () => {
  const image = makeSpec({ name: 'img', image: 'nginx:1' });
  const source = makeSpec({ name: 'src', image: undefined, run: { command: 'node server.js' }, build: { commands: [] } });
  const agent = { configured: true, runs: { images: false, source: true } };
  const fly = { configured: true, runs: { images: true, source: false } };
  const off = { configured: false, reason: 'not set' };
  const cases: [string, typeof image, ProviderName | undefined, Parameters<typeof chooseProvider>[2], ProviderName | string][] = [
    ['an image goes to the first provider that runs images', image, undefined, { agent, fly, cloud: off }, 'fly'],
    ['source goes to agents', source, undefined, { agent, fly, cloud: off }, 'agent'],
    ['an image with only agents: 503', image, undefined, { agent, fly: off, cloud: off }, 'E_COMPUTE_NOT_CONFIGURED'],
    ['a named provider that cannot run it: 400', image, 'agent', { agent, fly, cloud: off }, 'E_SPEC_INVALID'],
    ['a named provider that is not configured: 503', image, 'cloud', { agent, fly, cloud: off }, 'E_COMPUTE_NOT_CONFIGURED'],
    ['undeclared capabilities are trusted', image, undefined, { agent: { configured: true }, fly: off, cloud: off }, 'agent'],
  ];
  for (const [name, spec, named, offers, want] of cases) {
    it(name, () => {
      let got: string;
      try {
        got = chooseProvider(spec, named, offers);
      } catch (error) {
        got = (error as ForgeError).code;
      }
      assert.equal(got, want);
    });
  }
});
