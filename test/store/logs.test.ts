import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LogLineInput } from '../../store/index.ts';
import { openStore } from '../../store/index.ts';
import { T0, forEachEngine } from './helpers.ts';

const app = (instance: string, line: string, timeMs = T0, stream: 'stdout' | 'stderr' = 'stdout'): LogLineInput =>
  ({ service: 'web', instance, stream, timeMs, line });
const build = (id: string, line: string): LogLineInput => ({ service: 'web', instance: 'inst_a', build: id, stream: 'stdout', timeMs: T0, line });

forEachEngine((engine) => {
  test('logs: app output by tail, since and instance; build output apart from it', () => {
    const t = engine.tempStore();
    try {
      t.store.logs.append([
        build('b1', 'npm ci'), app('inst_a', 'a1', T0), app('inst_b', 'b1', T0 + 1_000, 'stderr'),
        app('inst_a', 'a2', T0 + 2_000), build('b2', 'npm run build'), app('inst_a', 'a3', T0 + 3_000),
      ]);
      const lines = (q: Parameters<typeof t.store.logs.list>[1]) => t.store.logs.list('web', q).map((l) => l.line);
      assert.deepEqual(lines({}), ['a1', 'b1', 'a2', 'a3']);
      assert.deepEqual(lines({ tail: 2 }), ['a2', 'a3']);
      assert.deepEqual(lines({ sinceMs: T0 + 1_500 }), ['a2', 'a3']);
      assert.deepEqual(lines({ instance: 'inst_b' }), ['b1']);
      assert.equal(t.store.logs.list('web', { instance: 'inst_b' })[0]!.stream, 'stderr');
      assert.deepEqual(lines({ build: 'latest' }), ['npm run build']);
      assert.deepEqual(lines({ build: 'b1' }), ['npm ci']);
      const first = t.store.logs.list('web')[0]!;
      assert.deepEqual(lines({ afterSeq: first.seq }), ['b1', 'a2', 'a3']);
      assert.deepEqual(t.store.logs.list('other'), []);
    } finally {
      t.cleanup();
    }
  });

  test('logs: each window is bounded by lines and bytes, oldest pruned on write', () => {
    const t = engine.tempStore({ logWindow: { maxLines: 5, maxBytes: 1_000, maxSourcesPerService: 10, goneAfterMs: 1e12 } });
    try {
      for (let i = 0; i < 12; i++) t.store.logs.append([app('inst_a', `line ${i}`)]);
      t.store.logs.append([app('inst_b', 'other instance')]);
      assert.deepEqual(t.store.logs.list('web', { instance: 'inst_a' }).map((l) => l.line), ['line 7', 'line 8', 'line 9', 'line 10', 'line 11']);
      // Bytes: three 400-byte lines do not fit in 1000 bytes; the newest two do.
      t.store.logs.append([app('inst_c', 'x'.repeat(400)), app('inst_c', 'y'.repeat(400)), app('inst_c', 'z'.repeat(400))]);
      assert.deepEqual(t.store.logs.list('web', { instance: 'inst_c' }).map((l) => l.line[0]), ['y', 'z']);
      assert.equal(t.store.logs.count('web'), 5 + 1 + 2);
    } finally {
      t.cleanup();
    }
  });

  test('logs: a service keeps its newest sources; instances silent for long are dropped', () => {
    const t = engine.tempStore({ logWindow: { maxLines: 100, maxBytes: 1e6, maxSourcesPerService: 2, goneAfterMs: 60 * 60_000 } });
    try {
      t.store.logs.append([app('inst_1', 'one')]);
      t.store.logs.append([app('inst_2', 'two')]);
      t.store.logs.append([app('inst_3', 'three')]);
      assert.deepEqual(t.store.logs.list('web').map((l) => l.line), ['two', 'three']);
      // Two hours on, a write sweeps sources whose newest line is older than an hour.
      t.clock.now = T0 + 2 * 60 * 60_000;
      t.store.logs.append([{ ...app('inst_9', 'fresh', t.clock.now), service: 'api' }]);
      assert.deepEqual(t.store.logs.list('web'), []);
      assert.deepEqual(t.store.logs.list('api').map((l) => l.line), ['fresh']);
    } finally {
      t.cleanup();
    }
  });

  test('logs: shipped lines are still there after the store is reopened', () => {
    const t = engine.tempStore();
    try {
      t.store.logs.append([app('inst_a', 'DATABASE_URL is not set', T0, 'stderr')]);
      const again = openStore(t.file);
      try {
        assert.deepEqual(again.logs.list('web').map((l) => [l.stream, l.line]), [['stderr', 'DATABASE_URL is not set']]);
      } finally {
        again.close();
      }
    } finally {
      t.cleanup();
    }
  });
});
