import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ForgeError } from '../../../errors/index.ts';
import { flyDuration, instanceHealth, instanceState, machineConfig, providerEvent, readForgeMeta } from '../../../providers/fly/config.ts';
import { ipCoverage } from '../../../providers/fly/app-setup.ts';
import { spec } from './helpers.ts';

const meta = { key: 'web', replica: 1, generation: 4, hash: 'abc', projectId: 'p1', owner: 'cp_00000000000000aa' };

describe('machineConfig', () => {
  it('maps a spec to image, guest, env, services on 80/443, checks, autostop and metadata', () => {
    const s = spec('web', { resources: { memoryMb: 1024, cpus: 2, cpuKind: 'performance' }, autoStop: true, port: 3000, env: { A: '1' }, secrets: ['TOKEN'] });
    assert.deepEqual(machineConfig(s, meta), {
      image: 'registry.example/app:1',
      guest: { cpu_kind: 'performance', cpus: 2, memory_mb: 1024 },
      env: { A: '1' },
      services: [
        {
          protocol: 'tcp',
          internal_port: 3000,
          ports: [
            { port: 80, handlers: ['http'], force_https: false },
            { port: 443, handlers: ['tls', 'http'] },
          ],
          autostop: 'stop',
          autostart: true,
          min_machines_running: 0,
          checks: [{ type: 'http', method: 'GET', path: '/health', protocol: 'http', port: 3000, interval: '10s', timeout: '3s', grace_period: '10s' }],
        },
      ],
      restart: { policy: 'on-failure', max_retries: 10 },
      metadata: { forge_key: 'web', forge_replica: '1', forge_generation: '4', forge_hash: 'abc', forge_project: 'p1', forge_owner: 'cp_00000000000000aa' },
    });
  });

  it('uses a tcp check when health is tcp, and rounds fractional cpus up to one', () => {
    const s = spec('web', { health: { type: 'tcp', path: '/', intervalMs: 1500, timeoutMs: 500, retries: 1 }, resources: { memoryMb: 256, cpus: 0.5, cpuKind: 'shared' } });
    const config = machineConfig(s, meta);
    assert.deepEqual(config.services?.[0]?.checks, [{ type: 'tcp', port: 8080, interval: '1500ms', timeout: '500ms', grace_period: '5s' }]);
    assert.equal(config.guest?.cpus, 1);
    assert.equal(config.services?.[0]?.autostop, 'off');
  });

  it("maps the spec's start-up grace to the check's grace_period", () => {
    const s = spec('web', { health: { type: 'http', path: '/health', intervalMs: 10_000, timeoutMs: 3_000, retries: 3, graceMs: 90_000 } });
    assert.equal(machineConfig(s, meta).services?.[0]?.checks?.[0]?.grace_period, '90s');
  });

  it('refuses a spec without an image', () => {
    const { image: _image, ...noImage } = spec('web');
    assert.throws(() => machineConfig(noImage, meta), (err: unknown) => err instanceof ForgeError && err.code === 'E_SPEC_INVALID');
  });
});

describe('readForgeMeta', () => {
  const labels = { forge_key: 'web', forge_replica: '2', forge_generation: '7', forge_hash: 'h', forge_project: 'p1' };
  const table: [string, Record<string, string> | undefined, ReturnType<typeof readForgeMeta>][] = [
    ['complete labels', labels, { key: 'web', replica: 2, generation: 7, hash: 'h' }],
    ['another project', { ...labels, forge_project: 'p2' }, undefined],
    ['no key', { forge_project: 'p1' }, undefined],
    ['no metadata', undefined, undefined],
    ['bad replica', { ...labels, forge_replica: '-1' }, { key: 'web', replica: 0, generation: 7, hash: 'h' }],
  ];
  for (const [name, input, expected] of table) it(name, () => assert.deepEqual(readForgeMeta(input, 'p1'), expected));
});

describe('state and health mapping', () => {
  const states: [string | undefined, ReturnType<typeof instanceState>][] = [
    ['created', 'creating'], ['starting', 'starting'], ['started', 'running'], ['replacing', 'starting'],
    ['stopping', 'stopping'], ['stopped', 'stopped'], ['suspended', 'stopped'], ['failed', 'failed'],
    ['destroying', null], ['destroyed', null], ['weird-new-state', 'failed'], [undefined, 'creating'],
  ];
  for (const [fly, forge] of states) it(`${fly} → ${forge}`, () => assert.equal(instanceState(fly), forge));

  it('derives health from checks only for running machines', () => {
    assert.equal(instanceHealth('running', [{ status: 'passing' }, { status: 'passing' }]), 'healthy');
    assert.equal(instanceHealth('running', [{ status: 'passing' }, { status: 'critical' }]), 'unhealthy');
    assert.equal(instanceHealth('running', [{ status: 'warning' }]), 'unknown');
    assert.equal(instanceHealth('running', []), 'unknown');
    assert.equal(instanceHealth('stopped', [{ status: 'passing' }]), 'unknown');
  });
});

describe('events and small helpers', () => {
  it('maps an exit event with its exit code and OOM flag', () => {
    assert.deepEqual(providerEvent('web', 'm1', { type: 'exit', status: 'stopped', source: 'flyd', timestamp: 5, request: { exit_event: { exit_code: 137, oom_killed: true } } }), {
      key: 'web', instanceId: 'm1', time: 5, source: 'flyd', type: 'exit', status: 'stopped', exitCode: 137, oomKilled: true,
    });
    assert.deepEqual(providerEvent('web', 'm1', { type: 'launch', status: 'created', source: 'user', timestamp: 1 }), {
      key: 'web', instanceId: 'm1', time: 1, source: 'user', type: 'launch', status: 'created',
    });
  });

  it('formats durations the way Fly reads them', () => {
    assert.deepEqual([flyDuration(10_000), flyDuration(1_500), flyDuration(0)], ['10s', '1500ms', '0s']);
  });

  it('tells which IP families an app has', () => {
    assert.deepEqual(ipCoverage([{ ip: '66.241.0.1' }, { ip: '' }, {}]), { v4: true, v6: false });
    assert.deepEqual(ipCoverage([{ ip: '2a09:8280:1::1' }]), { v4: false, v6: true });
  });
});
