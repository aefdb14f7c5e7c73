import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MachineCache, type CachedMachine } from '../../../providers/fly/cache.ts';

const machine = (id: string, o: Partial<CachedMachine> = {}): CachedMachine => ({
  id, app: 'web-p1', key: 'web', replica: 0, generation: 1, hash: 'h1', region: 'iad', flyState: 'started', version: 'v1', image: 'img', updatedAt: 100, ...o,
});

describe('MachineCache', () => {
  it('does not let a listing that began before our write undo it', () => {
    let t = 10;
    const cache = new MachineCache(() => t);
    cache.write(machine('m1', { flyState: 'stopped', updatedAt: 200 }));
    cache.applyDelta([{ machine: machine('m1', { flyState: 'started', updatedAt: 300 }), gone: false }], 5);
    assert.equal(cache.get('m1')?.flyState, 'stopped');
    t = 20;
    cache.applyDelta([{ machine: machine('m1', { flyState: 'started', updatedAt: 300 }), gone: false }], 15);
    assert.equal(cache.get('m1')?.flyState, 'started');
  });

  it('never replaces a record with an older one', () => {
    const cache = new MachineCache(() => 0);
    cache.applyDelta([{ machine: machine('m1', { version: 'v2', updatedAt: 500 }), gone: false }], 1);
    cache.applyDelta([{ machine: machine('m1', { version: 'v1', updatedAt: 400 }), gone: false }], 2);
    assert.equal(cache.get('m1')?.version, 'v2');
  });

  it('keeps machines we destroyed out, even if an older listing still shows them', () => {
    let t = 10;
    const cache = new MachineCache(() => t);
    cache.write(machine('m1'));
    t = 20;
    cache.remove('m1');
    cache.replaceAll([{ machine: machine('m1', { updatedAt: 900 }), gone: false }], 15);
    assert.equal(cache.get('m1'), undefined);
  });

  it('a full listing forgets what it does not contain; a delta forgets what it lists as destroyed', () => {
    let t = 10;
    const cache = new MachineCache(() => t);
    cache.applyDelta([{ machine: machine('a'), gone: false }, { machine: machine('b', { replica: 1 }), gone: false }], 1);
    t = 20;
    cache.applyDelta([{ machine: machine('a', { updatedAt: 150 }), gone: true }], 15);
    assert.deepEqual(cache.forKey('web').map((m) => m.id), ['b']);
    cache.replaceAll([], 30);
    assert.deepEqual(cache.forKey('web'), []);
  });

  it('observes instances by key with the app URL, hiding destroying machines', () => {
    const cache = new MachineCache(() => 0);
    cache.applyDelta([
      { machine: machine('a', { checks: [{ status: 'passing' }] }), gone: false },
      { machine: machine('b', { replica: 1, flyState: 'destroying' }), gone: false },
      { machine: machine('c', { key: 'api', app: 'api-p1', flyState: 'stopped' }), gone: false },
    ], 1);
    assert.deepEqual(cache.observed(), [
      { key: 'api', url: 'https://api-p1.fly.dev', instances: [{ id: 'c', key: 'api', replica: 0, hash: 'h1', generation: 1, region: 'iad', state: 'stopped', health: 'unknown', machineId: 'c' }] },
      { key: 'web', url: 'https://web-p1.fly.dev', instances: [{ id: 'a', key: 'web', replica: 0, hash: 'h1', generation: 1, region: 'iad', state: 'running', health: 'healthy', machineId: 'a' }] },
    ]);
    assert.deepEqual(cache.observed(['nope']), [{ key: 'nope', instances: [] }]);
  });
});
