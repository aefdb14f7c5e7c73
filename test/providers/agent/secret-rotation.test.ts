// Issue 13.20, end to end with a real control plane (API, store, cipher, loop)
// and its real embedded agent: rotating a secret through the API reaches the
// running app, by a health-gated replacement, before Forge reports converged.
// The app answers with its API_TOKEN; the test compares inside and never puts a
// value into an assertion message or a log line.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateApiKey } from '../../../api/auth.ts';
import { resolveConfig } from '../../../api/config.ts';
import { startControlPlane, type ControlPlane } from '../../../api/control-plane.ts';
import { sweepSandboxes } from '../../../agent/sandbox/index.ts';
import type { ObservedInstance } from '../../../providers/types.ts';
import { eventually } from '../../helpers/net.ts';

const needsRoot = process.getuid?.() === 0 ? false : 'needs root for cgroups and namespaces';
const NAME = 'token-app';
const LIMIT_MS = 60_000;

const SERVER_JS = `
const http = require('node:http');
http.createServer((req, res) => {
  if (req.url === '/health') return res.writeHead(200).end('ok');
  if (req.url === '/token') return res.writeHead(200).end(process.env.API_TOKEN === undefined ? '(unset)' : 'value:' + process.env.API_TOKEN);
  res.writeHead(404).end();
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

describe('secret rotation on a real agent', { skip: needsRoot }, () => {
  let dir: string;
  let plane: ControlPlane;
  let apiKey: string;
  const cgroupRoot = `forge-e2e-secrets-${process.pid}-${randomBytes(3).toString('hex')}`;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'forge-e2e-secrets-'));
    const appDir = path.join(dir, 'app');
    mkdirSync(appDir);
    writeFileSync(path.join(appDir, 'server.js'), SERVER_JS);
    const env = { PATH: process.env.PATH, FORGE_DATA_DIR: path.join(dir, 'data'), FORGE_API_ADDR: '127.0.0.1:0' };
    const { config } = resolveConfig(env, {}, randomBytes, dir);
    const from = 23_000 + Math.floor(Math.random() * 50) * 100;
    plane = await startControlPlane(config, {
      env, logger: false, resyncIntervalMs: 500, heartbeatIntervalMs: 500,
      localAgent: { portRange: { from, to: from + 99 }, cgroupRoot },
    });
    const key = generateApiKey();
    plane.store.apiKeys.create({ name: 'e2e', hash: key.hash, prefix: key.prefix });
    apiKey = key.key;
    const applied = await call('POST', '/api/v1/apply', {
      source: 'e2e',
      specs: [{
        name: NAME, provider: 'agent', runtime: 'node20', source: appDir,
        build: { commands: ['node --check server.js'] }, run: { command: 'node server.js' },
        port: 8080, memory: '256M', resources: { cpu: 0.25 }, secrets: ['API_TOKEN'],
        health: { path: '/health', interval: '1s', timeout: '500ms', retries: 3 },
      }],
    });
    assert.equal(applied.status, 200, `apply accepted: ${JSON.stringify(applied.json)}`);
  });

  after(async () => {
    await plane?.close();
    await sweepSandboxes(cgroupRoot).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function call(method: string, pathname: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${plane.url}${pathname}`, {
      method, headers: { 'x-api-key': apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, json: await res.json() };
  }

  async function tokenOf(instance: ObservedInstance): Promise<string> {
    const res = await fetch(`http://${instance.address}/token`, { signal: AbortSignal.timeout(3_000) });
    return res.text();
  }

  /** Waits until the service is converged on its current generation; returns its one ready instance. */
  async function converged(): Promise<ObservedInstance> {
    return eventually(`${NAME} converged on its current generation`, LIMIT_MS, async () => {
      const row = plane.store.services.get(NAME);
      const status = plane.store.status.get(NAME);
      const [observed] = await plane.observe([NAME]);
      const ready = observed?.instances.filter((i) => i.state === 'running' && i.health === 'healthy') ?? [];
      return row && status?.phase === 'running' && status.observedGeneration === row.generation
        && observed?.instances.length === 1 && ready.length === 1 ? ready[0] : undefined;
    });
  }

  /** Sets API_TOKEN through the API as `forge secrets set` does, then waits for the app to see it. */
  async function rotateTo(value: string, previous: ObservedInstance): Promise<ObservedInstance> {
    const patched = await call('PATCH', `/api/compute/services/${NAME}`, { envVarsPatch: { set: { API_TOKEN: value } } });
    assert.equal(patched.status, 200, 'the secret was set');
    assert.ok(!JSON.stringify(patched.json).includes(value), 'the API response holds no secret value');
    // Converged must mean the running app has the new value: look until it does, bounded.
    const serving = await eventually('an instance that serves the rotated value', LIMIT_MS, async () => {
      const instance = await converged();
      return (await tokenOf(instance)) === `value:${value}` ? instance : undefined;
    });
    assert.notEqual(serving.id, previous.id, 'the value reached the app by a new instance');
    return serving;
  }

  test('a value set and then rotated reaches the running app; events and status hold no value', async () => {
    const first = await converged();
    assert.equal(await tokenOf(first), '(unset)');
    const oldValue = `old-${randomBytes(6).toString('hex')}`;
    const newValue = `new-${randomBytes(6).toString('hex')}`;
    const second = await rotateTo(oldValue, first);
    const third = await rotateTo(newValue, second);
    assert.ok(third.id !== first.id);

    const events = JSON.stringify(plane.store.events.list(NAME));
    const status = JSON.stringify(plane.store.status.get(NAME));
    const shown = JSON.stringify((await call('GET', `/api/compute/services/${NAME}`)).json);
    const tasks = plane.store.tasks.listFor(NAME);
    const taskText = JSON.stringify(tasks) + JSON.stringify(tasks.map((t) => plane.store.tasks.logs(t.id)));
    const audit = JSON.stringify(plane.store.audit.list({ limit: 100 }));
    for (const text of [events, status, shown, taskText, audit]) {
      assert.ok(!text.includes(oldValue) && !text.includes(newValue), 'no secret value in events, status, the API, task rows and logs, or the audit log');
    }
    assert.match(events, /secret values changed/);
  });
});
