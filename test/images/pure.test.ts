// The pure parts of images: references, skopeo's words → error codes (no credential
// survives), the GC rule, and what an agent must have reported for a spec.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatReference, parseImageReference } from '../../specs/image-ref.ts';
import { pullError } from '../../agent/image/errors.ts';
import { imagesToKeep } from '../../agent/image/gc.ts';
import { buildTag, planBuildStores } from '../../agent/image/build-stores.ts';
import { agentFeatureNeeded } from '../../specs/runtimes.ts';

const D = `sha256:${'a'.repeat(64)}`;

test('image references parse the way registries read them', () => {
  const cases: Array<[string, ReturnType<typeof parseImageReference>]> = [
    ['busybox', { host: 'docker.io', repository: 'library/busybox', tag: 'latest' }],
    ['nginx:1.27', { host: 'docker.io', repository: 'library/nginx', tag: '1.27' }],
    ['ghcr.io/org/app:v3', { host: 'ghcr.io', repository: 'org/app', tag: 'v3' }],
    ['127.0.0.1:5000/hello:v1', { host: '127.0.0.1:5000', repository: 'hello', tag: 'v1' }],
    ['localhost/app', { host: 'localhost', repository: 'app', tag: 'latest' }],
    [`ghcr.io/org/app@${D}`, { host: 'ghcr.io', repository: 'org/app', digest: D }],
    [`ghcr.io/org/app:v3@${D}`, { host: 'ghcr.io', repository: 'org/app', tag: 'v3', digest: D }],
    ['Upper/Case:v1', undefined],
    ['app@sha256:short', undefined],
    ['has space:v1', undefined],
    ['https://ghcr.io/x', undefined],
  ];
  for (const [ref, want] of cases) assert.deepEqual(parseImageReference(ref), want, ref);
  assert.equal(formatReference(parseImageReference('ghcr.io/org/app:v3')!, D), `ghcr.io/org/app@${D}`, 'skopeo takes a tag or a digest, not both');
  assert.equal(formatReference(parseImageReference('ghcr.io/org/app:v3')!), 'ghcr.io/org/app:v3');
});

test("skopeo's failures map to codes that name the image, and no credential survives", () => {
  const say = (msg: string) => `time="2026-12-03T14:35:35Z" level=fatal msg="${msg}"`;
  const cases: Array<[string, string]> = [
    [say('Error parsing image name \\"docker://r/hello:nope\\": reading manifest nope in r/hello: manifest unknown: manifest unknown'), 'E_IMAGE_NOT_FOUND'],
    [say('reading manifest v1 in r/x: name unknown: repository name not known to registry'), 'E_IMAGE_NOT_FOUND'],
    [say('reading manifest v1 in r/x: unauthorized: authentication required'), 'E_REGISTRY_AUTH'],
    [say('pinging container registry 127.0.0.1:9: Get \\"http://127.0.0.1:9/v2/\\": dial tcp 127.0.0.1:9: connect: connection refused'), 'E_REGISTRY_UNAVAILABLE'],
    [say('something else entirely'), 'E_PROVIDER'],
  ];
  for (const [stderr, code] of cases) {
    const error = pullError('r/hello:v1', stderr);
    assert.equal(error.code, code, stderr);
    assert.match(error.message, /r\/hello:v1/);
  }
  const leaky = pullError('r/x:v1', say('Get \\"https://user:hunter2-pw@r/v2/\\": unauthorized, password=hunter2-pw'), ['hunter2-pw']);
  assert.equal(leaky.code, 'E_REGISTRY_AUTH');
  assert.ok(!leaky.message.includes('hunter2-pw'), leaky.message);
});

test('garbage collection keeps what instances use and the rollback targets', () => {
  const keep = imagesToKeep([{ digest: 'sha256:1', retain: ['sha256:2'] }, { digest: undefined, retain: undefined }, { digest: 'sha256:3' }]);
  assert.deepEqual([...keep].sort(), ['sha256:1', 'sha256:2', 'sha256:3']);
});

test('what an agent must have reported for a spec', () => {
  assert.equal(agentFeatureNeeded({ image: 'x' }), 'oci-image');
  assert.equal(agentFeatureNeeded({ build: { dockerfile: 'Dockerfile' } }), 'dockerfile');
  assert.equal(agentFeatureNeeded({ build: { dockerfile: 'Dockerfile' }, run: { command: 'x' } }), undefined);
  assert.equal(agentFeatureNeeded({}), undefined);
});

test('build stores: a store whose service has no instance here goes; a kept one keeps its releases\' build tags', () => {
  const keep = new Map([[3, new Set([buildTag('web', 'sha256:a'), buildTag('web', 'sha256:b')])]]);
  assert.deepEqual(planBuildStores([7, 3, 1], keep), { remove: [1, 7], prune: [{ slot: 3, keep: keep.get(3)! }] });
  assert.deepEqual(planBuildStores([], keep), { remove: [], prune: [] });
  // One tag per revision and service, valid as a tag (lowercase hex, no ':' beyond the one before it).
  assert.match(buildTag('web', 'sha256:a'), /^localhost\/forge-web:rev-[0-9a-f]{32}$/);
  assert.notEqual(buildTag('web', 'sha256:a'), buildTag('web', 'sha256:b'));
  assert.equal(buildTag('web', undefined), buildTag('web', undefined));
});

test('the error code comes from what the registry said, never from digits in its port or a digest (a flake seen once per few hundred runs)', () => {
  const say = (msg: string) => `time="2026-12-03T14:35:35Z" level=fatal msg="${msg}"`;
  for (const port of [34015, 40199, 45401, 50213, 55040]) {
    const host = `127.0.0.1:${port}`;
    const missing = pullError(`${host}/hello:nope`, say(`Error parsing image name \\"docker://${host}/hello:nope\\": reading manifest nope in ${host}/hello: manifest unknown`));
    assert.equal(missing.code, 'E_IMAGE_NOT_FOUND', `port ${port}: ${missing.message}`);
    const other = pullError(`${host}/hello:v1`, say(`copying ${host}/hello@sha256:4010502aaaa: something else entirely`));
    assert.equal(other.code, 'E_PROVIDER', `port ${port}: ${other.message}`);
  }
  // The status codes themselves still count.
  assert.equal(pullError('r/x:v1', say('reading manifest v1 in r/x: received unexpected HTTP status: 401 Unauthorized')).code, 'E_REGISTRY_AUTH');
  assert.equal(pullError('r/x:v1', say('reading manifest v1 in r/x: received unexpected HTTP status: 503 Service Unavailable')).code, 'E_REGISTRY_UNAVAILABLE');
});
