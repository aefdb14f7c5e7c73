// An image service end to end, on one machine as `forge dev` wires it: control plane,
// embedded agent, managed Caddy, and a real registry on loopback holding images this
// test built. Apply pins the tag's digest; the agent pulls, runs it sandboxed, and it
// is health-checked and served through Caddy. The tag moves → apply → the new digest
// serves; rollback → the old digest serves again. A private registry works with
// stored credentials, and a wrong password fails cleanly with the old release serving.

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { detectIsolation, isolationComplete } from '../../agent/sandbox/index.ts';
import { startStack, eventually, type Stack } from '../e2e/stack.ts';
import { applyDirectory } from '../../cli/dev/apply-dir.ts';
import { buildBusyboxImage, startRegistry, type TestRegistry } from '../helpers/registry.ts';

const isolation = process.getuid?.() === 0 ? await detectIsolation({ root: `forge-test-imge2e-${process.pid}` }) : null;
const skip = isolation === null ? 'needs root' : isolationComplete(isolation) ? false : `isolation incomplete here: ${isolation.missing.join(', ')}`;

const PASSWORD = 'reg-Pw-4471-secret';
let stack: Stack;
let open: TestRegistry;
let locked: TestRegistry;
let layout = '';
const digests: Record<string, string> = {};

async function api(method: string, url: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const res = await request(`${stack.plane.url}${url}`, {
    method: method as 'GET', headers: { 'x-api-key': stack.apiKey, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text === '' ? {} : JSON.parse(text) as Record<string, unknown>, text };
}

const spec = (name: string, image: string) => ({
  name, provider: 'agent', image, port: 8080, memory: '256M', resources: { cpu: 0.5 },
  health: { path: '/health', interval: '1s', timeout: '1s', retries: 2 },
});

/** The service's events, for a failure message. */
function eventsOf(name: string): string {
  return stack.plane.store.events.list(name).map((e) => `${e.reason}: ${e.message}`).join('\n');
}

/** Deletes a service and waits until it is gone: the agent's capacity (2 CPUs here) is shared by the tests. */
async function destroy(name: string): Promise<void> {
  const res = await api('DELETE', `/api/compute/services/${name}`);
  assert.equal(res.status, 202, res.text);
  await eventually(`${name} destroyed`, 60_000, async () => stack.plane.store.services.get(name) === null);
}

async function served(name: string): Promise<string> {
  const res = await request(`http://${stack.httpAddr}/`, { headers: { host: `${name}.localhost`, connection: 'close' }, headersTimeout: 3_000, bodyTimeout: 3_000 });
  return `${res.statusCode} ${(await res.body.text()).trim()}`;
}

before(async () => {
  if (skip !== false) return;
  stack = await startStack({ resyncIntervalMs: 1_000 });
  chmodSync(stack.dir, 0o755);
  open = await startRegistry(path.join(stack.dir, 'reg-open'));
  locked = await startRegistry(path.join(stack.dir, 'reg-locked'), { username: 'deployer', password: PASSWORD });
  layout = path.join(stack.dir, 'layout');
  await buildBusyboxImage(layout, 'one', 'web v1\n');
  await buildBusyboxImage(layout, 'two', 'web v2\n');
  digests.one = await open.push(layout, 'one', 'web:stable');
  await locked.push(layout, 'one', 'secret-web:v1');
  // The embedded agent registers with what it can run: images need it to say so.
  await eventually('an agent that runs images', 15_000, async () => (await api('GET', '/api/compute/config')).json.providers
    && ((await api('GET', '/api/compute/config')).json.providers as { agent: { runs?: { images: boolean } } }).agent.runs?.images === true);
});

after(async () => {
  await stack?.stop();
  await open?.stop();
  await locked?.stop();
});

describe('an image service through apply, the agent and Caddy', { skip }, () => {
  test('runs, is health-checked and served; a moved tag + apply serves the new digest; rollback serves the old one', async () => {
    const first = await api('POST', '/api/v1/apply', { specs: [spec('web', `${open.host}/web:stable`)] });
    assert.equal(first.status, 200, first.text);
    assert.equal(stack.plane.store.services.get('web')?.spec.revision, digests.one, 'the release pins the digest');
    await eventually('v1 served through Caddy', 60_000, async () => (await served('web')) === '200 web v1')
      .catch((error: Error) => { throw new Error(`${error.message}\n${eventsOf('web')}`); });

    // The same apply again is no change; the tag moving is.
    const same = await api('POST', '/api/v1/apply', { specs: [spec('web', `${open.host}/web:stable`)] });
    assert.deepEqual((same.json as { changed?: string[] }).changed ?? [], []);
    digests.two = await open.push(layout, 'two', 'web:stable');
    const moved = await api('POST', '/api/v1/apply', { specs: [spec('web', `${open.host}/web:stable`)] });
    assert.equal(moved.status, 200, moved.text);
    assert.equal(stack.plane.store.services.get('web')?.spec.revision, digests.two);
    await eventually('v2 served after the tag moved', 60_000, async () => (await served('web')) === '200 web v2');

    // The tag still names v2; the rollback runs the release's own digest.
    const back = await api('POST', '/api/compute/services/web/rollback', {});
    assert.equal(back.status, 200, back.text);
    await eventually('v1 served again after rollback', 60_000, async () => (await served('web')) === '200 web v1');
    assert.equal(stack.plane.store.services.get('web')?.spec.revision, digests.one);
  });

  test('POST /api/compute/services by tag pins the digest: a moved tag + deploy again serves the new one; rollback the old', async () => {
    const one = await open.push(layout, 'one', 'svc:stable');
    const body = { name: 'svc', provider: 'agent', imageUrl: `${open.host}/svc:stable`, port: 8080, memory: 256 };
    const first = await api('POST', '/api/compute/services', body);
    assert.equal(first.status, 201, first.text);
    assert.equal(stack.plane.store.services.get('svc')?.spec.revision, one, 'the write pins the digest');
    await eventually('svc v1 served', 60_000, async () => (await served('svc')) === '200 web v1')
      .catch((error: Error) => { throw new Error(`${error.message}\n${eventsOf('svc')}`); });

    const two = await open.push(layout, 'two', 'svc:stable');
    const again = await api('POST', '/api/compute/services', body);
    assert.equal(again.status, 200, again.text);
    assert.equal(stack.plane.store.services.get('svc')?.spec.revision, two, 'deploying the moved tag again is a new release');
    await eventually('svc v2 served after the tag moved', 60_000, async () => (await served('svc')) === '200 web v2');

    // An env change does not move the code: the pinned digest stays.
    const patched = await api('PATCH', '/api/compute/services/svc', { envVarsPatch: { set: { FLAG: 'on' } } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(stack.plane.store.services.get('svc')?.spec.revision, two);

    const back = await api('POST', '/api/compute/services/svc/rollback', { to: 1 });
    assert.equal(back.status, 200, back.text);
    assert.equal(stack.plane.store.services.get('svc')?.spec.revision, one);
    await eventually('svc v1 served again after rollback', 60_000, async () => (await served('svc')) === '200 web v1');
    await destroy('svc');
  });

  test('forge dev\'s apply pins the tag through the control plane: the tag moved + a save is a new release', async () => {
    const one = await open.push(layout, 'one', 'devweb:stable');
    const dir = path.join(stack.dir, 'dev-specs');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'forge.yaml'), `name: devweb\nprovider: agent\nimage: ${open.host}/devweb:stable\nport: 8080\nmemory: 256M\nresources:\n  cpu: 0.25\n`);
    const applyDev = async () => {
      const result = await applyDirectory(stack.plane.store, dir, stack.dir, undefined, stack.plane.pinSpec);
      assert.ok(result.ok, JSON.stringify(result));
      for (const key of result.plan.changed) stack.plane.nudge(key);
    };
    await applyDev();
    assert.equal(stack.plane.store.services.get('devweb')?.spec.revision, one, 'forge dev pins the digest');
    await eventually('devweb v1 served', 60_000, async () => (await served('devweb')) === '200 web v1')
      .catch((error: Error) => { throw new Error(`${error.message}\n${eventsOf('devweb')}`); });
    const two = await open.push(layout, 'two', 'devweb:stable');
    await applyDev();
    const row = stack.plane.store.services.get('devweb');
    assert.deepEqual([row?.generation, row?.spec.revision], [2, two]);
    await eventually('devweb v2 served', 60_000, async () => (await served('devweb')) === '200 web v2');
    await destroy('devweb');
  });

  test('a private registry: stored credentials pull it; a wrong password fails cleanly and the old release keeps serving', async () => {
    const noCreds = await api('POST', '/api/v1/apply', { specs: [spec('private', `${locked.host}/secret-web:v1`)] });
    assert.equal(noCreds.status, 400, noCreds.text);
    assert.equal(noCreds.json.error, 'E_REGISTRY_AUTH');
    assert.match(String(noCreds.json.message), /secret-web:v1/);

    const login = await api('PUT', `/api/v1/registries/${locked.host}`, { username: 'deployer', password: PASSWORD });
    assert.equal(login.status, 200, login.text);
    const listed = await api('GET', '/api/v1/registries');
    assert.ok(!listed.text.includes(PASSWORD), 'the password is never returned');
    const ok = await api('POST', '/api/v1/apply', { specs: [spec('private', `${locked.host}/secret-web:v1`)] });
    assert.equal(ok.status, 200, ok.text);
    await eventually('the private image served', 60_000, async () => (await served('private')) === '200 web v1');

    await api('PUT', `/api/v1/registries/${locked.host}`, { username: 'deployer', password: 'wrong-Pw-0000' });
    const bad = await api('POST', '/api/v1/apply', { specs: [spec('private', `${locked.host}/secret-web:v2`)] });
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json.error, 'E_REGISTRY_AUTH');
    assert.match(String(bad.json.message), /secret-web:v2/);
    assert.equal(await served('private'), '200 web v1', 'the old release keeps serving');
    const events = stack.plane.store.events.list('private').map((e) => e.message).join('\n');
    const everything = `${bad.text}\n${events}\n${(await api('GET', '/api/compute/services/private')).text}`;
    assert.ok(!everything.includes(PASSWORD) && !everything.includes('wrong-Pw-0000'), 'no password in any output or event');
  });

  test('a registry that is down or a tag that does not exist is refused at apply, naming the image', async () => {
    const missing = await api('POST', '/api/v1/apply', { specs: [spec('web', `${open.host}/web:nope`)] });
    assert.equal(missing.status, 400, missing.text);
    assert.equal(missing.json.error, 'E_IMAGE_NOT_FOUND');
    assert.match(String(missing.json.message), /web:nope/);
    const down = await api('POST', '/api/v1/apply', { specs: [spec('web', '127.0.0.1:9/web:stable')] });
    assert.equal(down.status, 502, down.text);
    assert.equal(down.json.error, 'E_REGISTRY_UNAVAILABLE');
    assert.equal(await served('web'), '200 web v1', 'the old release keeps serving');
  });
});
