// The bench runner's decisions: which printed lines are figures, medians,
// targets met or missed, failures shown, and the runner end to end on two tiny
// benches (one of which fails).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, meets, parseFigures, summarize, type BenchRun } from '../../bench/lib/figures.ts';
import { forgeNodeFlags, shebangNodeFlags } from '../../bench/lib/node-flags.ts';

const ok = (output: string): BenchRun => ({ exitCode: 0, timedOut: false, durationMs: 1000, output });

test('parseFigures: labels, values, units and targets as the existing benches print them', () => {
  const output = [
    'setup: 10000 services, 10000 running, 19999 instances',
    'no-op pass: 11.4 ms (median of 5 over 10000 services; all: 10.5, 11.1, 11.4, 11.9, 38.8; target ≤ 25 ms)',
    'provider calls per no-op pass: observe 1.0 (one bulk, from cache), remote reads 0.0 (target: 0 writes, no per-service reads)',
    'rss with 10000 services: 199 MB (target ≤ 150 MB)',
    'placement 10000 services on 100 agents: 89 ms',
    'fly: 100 services converged in 3547 ms (606 API calls, 1 resync passes)',
    'fly: target ≤ 5000 ms met (1453 ms to spare)',
    'fly: API calls per single deploy: 4 (POST /v1/apps, POST /v1/apps/{app}/machines)',
    'upsert: 2113 req/s (p50 4 ms, p99 12 ms; target >= 1000 req/s)',
    'just prose without a colon 12 ms',
  ].join('\n');
  assert.deepEqual(parseFigures(output), [
    { label: 'setup', value: 10000, unit: 'services' },
    { label: 'no-op pass', value: 11.4, unit: 'ms', target: { op: '≤', value: 25, unit: 'ms' } },
    { label: 'rss with 10000 services', value: 199, unit: 'MB', target: { op: '≤', value: 150, unit: 'MB' } },
    { label: 'placement 10000 services on 100 agents', value: 89, unit: 'ms' },
    { label: 'fly: 100 services converged', value: 3547, unit: 'ms', target: { op: '≤', value: 5000, unit: 'ms' } },
    { label: 'fly: API calls per single deploy', value: 4, unit: '' },
    { label: 'upsert', value: 2113, unit: 'req/s', target: { op: '≥', value: 1000, unit: 'req/s' } },
  ]);
});

test('median and meets, with unit conversion inside a family only', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  const table: [number, string, Parameters<typeof meets>[1], boolean | undefined][] = [
    [25, 'ms', { op: '≤', value: 25, unit: 'ms' }, true],
    [26, 'ms', { op: '≤', value: 25, unit: 'ms' }, false],
    [900, 'ms', { op: '<', value: 1, unit: 's' }, true],
    [2, 'GB', { op: '≤', value: 150, unit: 'MB' }, false],
    [1200, 'req/s', { op: '≥', value: 1000, unit: 'req/s' }, true],
    [5, 'ms', { op: '≤', value: 5, unit: 'MB' }, undefined],
    [0, 'writes', { op: '=', value: 0, unit: '' }, true],
  ];
  for (const [value, unit, target, expected] of table) assert.equal(meets(value, target, unit), expected, `${value} ${unit} ${target.op} ${target.value} ${target.unit}`);
});

test('summarize: medians over successful runs, a missed target in bold, a failed bench as its own row', () => {
  const rows = summarize([
    { name: 'reconcile', runs: [ok('no-op pass: 12 ms (target ≤ 25 ms)'), ok('no-op pass: 30 ms (target ≤ 25 ms)'), ok('no-op pass: 10 ms (target ≤ 25 ms)')] },
    { name: 'mem', runs: [ok('rss: 199 MB (target ≤ 150 MB)')] },
    { name: 'fly', runs: [ok('fly: 100 services converged in 3547 ms\nfly: target ≤ 5000 ms met')] },
    { name: 'broken', runs: [ok('x: 1 ms'), { exitCode: 1, timedOut: false, durationMs: 10, output: 'Error: boom' }] },
    { name: 'slow', runs: [{ exitCode: null, timedOut: true, durationMs: 240_000, output: '' }] },
    { name: 'skipped', runs: [], note: 'not run: the time budget was spent' },
  ]);
  assert.deepEqual(rows, [
    { figure: 'reconcile: no-op pass', median: '12 ms (10–30)', runs: 3, target: '≤ 25 ms', met: 'yes' },
    { figure: 'mem: rss', median: '199 MB', runs: 1, target: '≤ 150 MB', met: '**no**' },
    { figure: 'fly: 100 services converged', median: '3547 ms', runs: 1, target: '≤ 5000 ms', met: 'yes' },
    { figure: 'broken: x', median: '1 ms', runs: 1, target: '—', met: '—' },
    { figure: 'broken: **FAILED**', median: '—', runs: 2, target: '—', met: '**failed** 1 of 2 (exit code 1)' },
    { figure: 'slow: **FAILED**', median: '—', runs: 1, target: '—', met: '**failed** 1 of 1 (timed out after 240 s)' },
    { figure: 'skipped: **not run**', median: '—', runs: 0, target: '—', met: 'not run: the time budget was spent' },
  ]);
});

test('run-all runs every bench in a folder but itself, repeats cheap ones and reports a failing one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-bench-runner-'));
  try {
    writeFileSync(join(dir, 'good.ts'), "console.log('answer: 42 ms (target ≤ 50 ms)');\n");
    writeFileSync(join(dir, 'bad.ts'), "console.log('partial: 1 ms');\nprocess.exit(3);\n");
    const runner = fileURLToPath(new URL('../../bench/run-all.ts', import.meta.url));
    const result = spawnSync(process.execPath, ['--import', 'tsx', runner, `--dir=${dir}`, '--runs=2', '--budget=60'], { encoding: 'utf8' });
    assert.equal(result.status, 1, result.stderr);
    const written = readFileSync(join(dir, 'RESULTS.md'), 'utf8');
    assert.match(written, /^# Bench results\n/);
    assert.match(written, /Machine: \d+ × .+, [\d.]+ GB memory, Node v\d+/);
    assert.ok(written.includes('| bad: **FAILED** | — | 1 | — | **failed** 1 of 1 (exit code 3) |'), written);
    assert.ok(written.includes('| good: answer | 42 ms | 2 | ≤ 50 ms | yes |'), written);
    assert.ok(written.includes('### bad\n\nRun 1 ('), written);
    assert.ok(written.includes('partial: 1 ms'), 'raw output of the failed run is kept');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench processes get the node flags of bin/forge\'s shebang', () => {
  assert.deepEqual(shebangNodeFlags('#!/usr/bin/env -S node --max-semi-space-size=1 --no-warnings'), ['--max-semi-space-size=1', '--no-warnings']);
  assert.deepEqual(shebangNodeFlags('#!/usr/bin/env node'), []);
  assert.deepEqual(shebangNodeFlags('#!/bin/sh'), []);
  assert.deepEqual(forgeNodeFlags(), ['--max-semi-space-size=1']);
});
