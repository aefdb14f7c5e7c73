// Defects 13.3: with Fly configured, an agent service's instances must still show in
// GET /api/compute/services (and so in `forge get`, `forge list` and the dashboard).
// Only the service's own provider speaks for it: Fly's cache answers every key it is
// asked about (an empty entry), and that must never overwrite what the agent reports.
// A real control plane with its embedded real agent, and the Fly fake configured.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { generateApiKey } from '../../api/auth.ts';
import { resolveConfig } from '../../api/config.ts';
import { startControlPlane } from '../../api/control-plane.ts';
import { sweepSandboxes } from '../../agent/sandbox/index.ts';
import { applyDirectory } from '../../cli/dev/apply-dir.ts';
import { startFlyFake } from '../fakes/fly.ts';
import { eventually } from '../helpers/net.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/node-hello/', import.meta.url));
const needsRoot = process.getuid?.() !== 0 ? 'needs root (cgroups, namespaces) for the real agent' : false;

test('Defects 13.3: with Fly configured, an agent service lists its running instances', { skip: needsRoot, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-observe-merge-'));
  const appDir = path.join(dir, 'app');
  cpSync(EXAMPLE, appDir, { recursive: true });
  const fake = await startFlyFake();
  const env = {
    PATH: process.env.PATH, FORGE_DATA_DIR: path.join(dir, 'data'), FORGE_API_ADDR: '127.0.0.1:0',
    FLY_API_TOKEN: fake.token, FLY_ORG: fake.org, FLY_API_HOSTNAME: fake.url, PROJECT_ID: 'p13',
  };
  const { config } = resolveConfig(env, {}, randomBytes, dir);
  const cgroupRoot = `forge-observe-merge-${process.pid}-${randomBytes(3).toString('hex')}`;
  const from = 23_000 + Math.floor(Math.random() * 100) * 50;
  const plane = await startControlPlane(config, {
    env, logger: false, resyncIntervalMs: 300, heartbeatIntervalMs: 300,
    localAgent: { portRange: { from, to: from + 49 }, cgroupRoot },
  });
  try {
    assert.equal(plane.providersConfig.fly.configured, true);
    const { key, hash, prefix } = generateApiKey();
    plane.store.apiKeys.create({ name: 't', hash, prefix });
    const applied = await applyDirectory(plane.store, appDir, dir);
    assert.ok(applied.ok);
    for (const k of applied.plan.changed) plane.nudge(k);

    const get = async (url: string) => {
      const res = await request(`${plane.url}${url}`, { headers: { 'x-api-key': key } });
      return (await res.body.json()) as Record<string, unknown>;
    };
    // The agent reports the instance running and healthy (the provider's own view).
    await eventually('node-hello running on the agent', 90_000, async () => {
      const [observed] = await plane.observe(['node-hello']);
      return observed?.instances.some((i) => i.state === 'running' && i.health === 'healthy');
    });
    const one = await get('/api/compute/services/node-hello');
    const instances = one['instances'] as { state: string; agent?: string }[];
    assert.equal(instances.length, 1, `GET shows the agent's instance: ${JSON.stringify(one)}`);
    assert.equal(instances[0]!.state, 'running');
    assert.ok(instances[0]!.agent, 'the instance names its agent');
    const list = await get('/api/compute/services');
    const listed = (list as unknown as { name: string; instances: unknown[] }[]).find((s) => s.name === 'node-hello');
    assert.equal(listed?.instances.length, 1, 'the list shows it too');
  } finally {
    await plane.close();
    await sweepSandboxes(cgroupRoot).catch(() => undefined);
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
