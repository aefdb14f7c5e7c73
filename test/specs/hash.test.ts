import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, specHash } from '../../specs/index.ts';
import { ORIGINAL_FORGE_YAML, specsOf } from './helpers.ts';

function hashOf(yaml: string): string {
  const [loaded] = specsOf(yaml);
  assert.ok(loaded);
  assert.equal(loaded.hash, specHash(loaded.spec));
  return loaded.hash;
}

test('canonical JSON sorts keys at every level and drops undefined members', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: undefined }], c: null } }), '{"a":{"c":null,"d":[2,{"z":1}]},"b":1}');
});

test('the hash is sha256 hex and stable for the original spec', () => {
  assert.match(hashOf(ORIGINAL_FORGE_YAML), /^[0-9a-f]{64}$/);
  assert.equal(hashOf(ORIGINAL_FORGE_YAML), hashOf(ORIGINAL_FORGE_YAML));
});

test('spelling that means the same thing hashes the same', () => {
  const same: [string, string, string][] = [
    ['key order', 'name: a\nimage: x\nport: 80\nenv: {A: "1", B: "2"}\n', 'port: 80\nenv: {B: "2", A: "1"}\nimage: x\nname: a\n'],
    ['defaults left out vs written', 'name: a\nimage: x\n', [
      'name: a', 'image: x', 'provider: agent', 'port: 8080', 'cpu: shared-1x', 'memory: 512', 'region: iad', 'replicas: 1',
      'autoStop: false', 'env: {}', 'secrets: []', 'domains: []',
      'health: {path: /health, interval: 10s, timeout: 3s, retries: 3}', '',
    ].join('\n')],
    ['health: true vs absent', 'name: a\nimage: x\nhealth: true\n', 'name: a\nimage: x\n'],
    ['units', 'name: a\nimage: x\nmemory: 1Gi\nhealth: {interval: 1m}\n', 'name: a\nimage: x\nmemory: 1024\nhealth: {interval: 60000ms}\n'],
    ['aliases', 'name: a\nrun: {command: ./a, port: 81}\nresources: {memory: 256M}\n', 'name: a\nrun: {command: ./a}\nport: 81\nmemory: 256\n'],
    ['list order of secrets and domains', 'name: a\nimage: x\nsecrets: [B, A]\ndomains: [b.io, a.io]\n', 'name: a\nimage: x\nsecrets: [A, B]\ndomains: [a.io, b.io]\n'],
    ['env value types', 'name: a\nimage: x\nenv: {N: 1, F: true}\n', 'name: a\nimage: x\nenv: {N: "1", F: "true"}\n'],
  ];
  for (const [name, a, b] of same) assert.equal(hashOf(a), hashOf(b), name);
});

test('different meaning hashes differently', () => {
  const base = 'name: a\nimage: x\n';
  const variants = [
    'name: b\nimage: x\n',
    'name: a\nimage: y\n',
    `${base}port: 81\n`,
    `${base}memory: 1Gi\n`,
    `${base}cpu: shared-2x\n`,
    `${base}cpu: performance-1x\n`,
    `${base}region: ams\n`,
    `${base}replicas: 2\n`,
    `${base}autoStop: true\n`,
    `${base}env: {A: "1"}\n`,
    `${base}secrets: [A]\n`,
    `${base}domains: [a.io]\n`,
    `${base}health: false\n`,
    `${base}health: {retries: 4}\n`,
    `${base}provider: fly\n`,
  ];
  const hashes = new Set([base, ...variants].map(hashOf));
  assert.equal(hashes.size, variants.length + 1);
});
