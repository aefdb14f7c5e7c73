import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceSpec } from '../../specs/types.ts';
import { ORIGINAL_FORGE_YAML, specsOf } from './helpers.ts';

const DEFAULTS = {
  provider: 'agent',
  port: 8080,
  resources: { memoryMb: 512, cpus: 1, cpuKind: 'shared' },
  region: 'iad',
  env: {},
  secrets: [],
  replicas: 1,
  domains: [],
  autoStop: false,
  health: { type: 'http', path: '/health', intervalMs: 10_000, timeoutMs: 3_000, retries: 3 },
} satisfies Partial<ServiceSpec>;

test('the original forge.yaml validates unchanged and normalizes fully', () => {
  const [loaded, ...rest] = specsOf(ORIGINAL_FORGE_YAML);
  assert.equal(rest.length, 0);
  assert.deepEqual(loaded?.spec, {
    ...DEFAULTS,
    name: 'myapp',
    runtime: 'python3.11',
    build: { commands: ['python3 -m venv .venv', '. .venv/bin/activate && python -m pip install -r requirements.txt'] },
    run: { command: '. .venv/bin/activate && uvicorn app:main --host 0.0.0.0 --port $PORT' },
    sourceDir: '/srv/app',
    port: 8000,
    resources: { memoryMb: 256, cpus: 0.5, cpuKind: 'shared' },
  });
  assert.equal(loaded?.line, 1);
  assert.equal(loaded?.col, 7);
});

test('valid specs normalize to the expected ServiceSpec', () => {
  const cases: { name: string; yaml: string; spec: ServiceSpec }[] = [
    {
      name: 'image mode with every default',
      yaml: 'name: web\nimage: nginx:1.27\n',
      spec: { ...DEFAULTS, name: 'web', image: 'nginx:1.27' },
    },
    {
      name: 'fly compute fields',
      yaml: [
        'name: api', 'provider: fly', 'image: registry.fly.io/api:v3', 'port: 3000', 'cpu: performance-4x', 'memory: 2Gi',
        'region: ams', 'replicas: 3', 'autoStop: true', 'domains: [Api.Example.com, a.example.com]',
        'env: {PORT_NAME: web, WORKERS: 4, DEBUG: false}', 'secrets: [TOKEN, API_KEY]', '',
      ].join('\n'),
      spec: {
        ...DEFAULTS, name: 'api', provider: 'fly', image: 'registry.fly.io/api:v3', port: 3000,
        resources: { memoryMb: 2048, cpus: 4, cpuKind: 'performance' }, region: 'ams', replicas: 3, autoStop: true,
        domains: ['a.example.com', 'api.example.com'], env: { DEBUG: 'false', PORT_NAME: 'web', WORKERS: '4' },
        secrets: ['API_KEY', 'TOKEN'],
      },
    },
    {
      name: 'health: false is a TCP check with default timings',
      yaml: 'name: cache\nimage: redis:7\nport: 6379\nhealth: false\n',
      spec: { ...DEFAULTS, name: 'cache', image: 'redis:7', port: 6379, health: { ...DEFAULTS.health, type: 'tcp' } },
    },
    {
      name: 'health: true and a partial health block use the defaults',
      yaml: 'name: a\nimage: x\nhealth:\n  interval: 2m\n  timeout: 1500ms\n',
      spec: { ...DEFAULTS, name: 'a', image: 'x', health: { ...DEFAULTS.health, intervalMs: 120_000, timeoutMs: 1500 } },
    },
    {
      name: 'source relative to the spec file, dockerfile without run',
      yaml: 'name: site\nprovider: fly\nsource: ./web\nbuild:\n  dockerfile: Dockerfile.prod\n',
      spec: { ...DEFAULTS, name: 'site', provider: 'fly', sourceDir: '/srv/app/web', build: { commands: [], dockerfile: 'Dockerfile.prod' } },
    },
    {
      name: 'run without build; equal aliases agree',
      yaml: 'name: w\nrun:\n  command: ./w\n  port: 9000\nport: 9000\nmemory: 1024\nresources:\n  memory: 1Gi\n',
      spec: { ...DEFAULTS, name: 'w', run: { command: './w' }, sourceDir: '/srv/app', port: 9000, resources: { ...DEFAULTS.resources, memoryMb: 1024 } },
    },
    {
      name: 'boundaries: 63-character name, memory 256 and 8192, replicas 0',
      yaml: `name: ${'a'.repeat(63)}\nimage: x\nmemory: 8192\nreplicas: 0\n`,
      spec: { ...DEFAULTS, name: 'a'.repeat(63), image: 'x', replicas: 0, resources: { ...DEFAULTS.resources, memoryMb: 8192 } },
    },
  ];
  for (const { name, yaml, spec } of cases) {
    const [loaded] = specsOf(yaml);
    assert.deepEqual(loaded?.spec, spec, name);
  }
});

test('a multi-document file yields one spec per document and skips empty ones', () => {
  const specs = specsOf('---\nname: a\nimage: x\n---\n# only a comment\n---\nname: b\nimage: y\n---\n');
  assert.deepEqual(specs.map((s) => [s.spec.name, s.line, s.col]), [['a', 2, 7], ['b', 7, 7]]);
});

test('a health timeout as long as or longer than the interval is accepted, as Docker, Kubernetes, Nomad and Fly do (probes run one after another)', () => {
  const [equal] = specsOf('name: a\nimage: x\nhealth:\n  interval: 1s\n  timeout: 1s\n');
  assert.deepEqual(equal?.spec.health, { ...DEFAULTS.health, intervalMs: 1_000, timeoutMs: 1_000 });
  const [longer] = specsOf('name: b\nimage: x\nhealth:\n  timeout: 30s\n');
  assert.deepEqual(longer?.spec.health, { ...DEFAULTS.health, timeoutMs: 30_000 });
});

test('health.grace sets how long an instance may take to become healthy; without it the spec (and its hash) is as before', () => {
  const [slow] = specsOf('name: a\nimage: x\nhealth:\n  grace: 90s\n');
  assert.deepEqual(slow?.spec.health, { ...DEFAULTS.health, graceMs: 90_000 });
  const [minutes] = specsOf('name: b\nimage: x\nhealth:\n  path: /up\n  grace: 5m\n');
  assert.equal(minutes?.spec.health.graceMs, 300_000);
  const [plain] = specsOf('name: c\nimage: x\n');
  assert.equal('graceMs' in plain!.spec.health, false);
});
