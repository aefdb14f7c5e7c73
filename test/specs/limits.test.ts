// Hostile YAML is refused before or while parsing, with a positioned problem, in
// bounded time and memory: size, nesting depth, aliases, and the number of problems.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatProblem, loadSpecFiles, parseSpecText } from '../../specs/index.ts';
import { parseSpecTextOffThread } from '../../specs/off-thread.ts';
import { BASE_DIR, ORIGINAL_FORGE_YAML, problemsOf } from './helpers.ts';

function timed<T>(label: string, fn: () => T): T {
  const started = performance.now();
  const value = fn();
  console.log(`# ${label}: ${Math.round(performance.now() - started)} ms`);
  return value;
}

test('1 MiB of nested `[` is refused by its size, with one problem', () => {
  const problems = timed('1 MiB of [', () => problemsOf('['.repeat(1 << 20), 'bomb.yaml'));
  assert.deepEqual(problems, ['bomb.yaml:1:1: YAML: the text is 1024 KiB; a spec file may be at most 512 KiB']);
});

test('nesting deeper than 64 levels is refused at the first bracket too deep, whatever the size', () => {
  assert.deepEqual(timed('400 KiB of [', () => problemsOf(`name: a\nimage: x\nlabels: ${'['.repeat(400 * 1024)}`, 'deep.yaml')),
    ['deep.yaml:3:72: YAML: nested more than 64 levels deep']);
  assert.deepEqual(problemsOf(`a:${'{a: '.repeat(65)}`, 'flow.yaml'), ['flow.yaml:1:259: YAML: nested more than 64 levels deep']);
  const block = Array.from({ length: 70 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n');
  assert.deepEqual(problemsOf(block, 'block.yaml'), ['block.yaml:65:65: YAML: nested more than 64 levels deep']);
  assert.deepEqual(problemsOf(`x: ${'- '.repeat(70)}a`, 'dash.yaml').map((p) => p.replace(/:\d+: /, ': ')), ['dash.yaml:1: YAML: nested more than 64 levels deep']);
});

test('brackets and quotes inside scalars and block text do not count as nesting', () => {
  const text = `${ORIGINAL_FORGE_YAML.replace('    - python3 -m venv .venv', `    - |\n      if [ -f x ]; then echo "[[[["; fi\n${'      [ unbalanced\n'.repeat(100)}    - echo it's [fine] {really}`)}`;
  assert.deepEqual(problemsOf(text), []);
});

test('more than 100 aliases are refused (billion laughs), positioned at the 101st', () => {
  const laughs = `name: a\nimage: x\nx: &a lol\nlabels: [${Array.from({ length: 101 }, () => '*a').join(', ')}]\n`;
  assert.deepEqual(problemsOf(laughs, 'lol.yaml'), ['lol.yaml:4:410: YAML: more than 100 aliases']);
});

test('problems are collapsed: duplicates once, at most 20 per text, then a count of the rest', () => {
  const text = Array.from({ length: 300 }, (_, i) => `name: svc-${i}\nimage: x\nport: high\n---`).join('\n');
  const problems = problemsOf(text, 'many.yaml');
  assert.equal(problems.length, 21);
  assert.match(problems[20]!, /^many\.yaml:\d+:\d+: 280 more problems from here on$/);
  const dup = parseSpecText(`${'['.repeat(30)}`, 'dup.yaml');
  assert.equal(dup.ok, false);
  const shown = dup.ok ? [] : dup.problems.map(formatProblem);
  assert.equal(new Set(shown).size, shown.length, 'no duplicate lines');
});

test('a 2 MB forge.yaml is refused by its size without parsing it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-limits-'));
  try {
    writeFileSync(join(dir, 'forge.yaml'), 'a: '.repeat(700_000));
    const started = performance.now();
    const result = await loadSpecFiles([join(dir, 'forge.yaml')], { cwd: dir });
    console.log(`# 2 MB file: ${Math.round(performance.now() - started)} ms`);
    assert.deepEqual(result.ok ? [] : result.problems.map(formatProblem), ['forge.yaml:1:1: YAML: the file is 2051 KiB; a spec file may be at most 512 KiB']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a large text is parsed in a worker thread: same result, and the event loop keeps turning', async () => {
  const big = Array.from({ length: 1500 }, (_, i) => `name: svc-${i}\nimage: nginx:1\nenv:\n  A: "${'x'.repeat(200)}"\n---`).join('\n');
  assert.ok(big.length > 64 * 1024);
  let ticks = 0;
  const timer = setInterval(() => { ticks += 1; }, 5);
  try {
    const result = await parseSpecTextOffThread(big, 'big.yaml', { baseDir: BASE_DIR });
    assert.equal(result.ok, true);
    assert.equal(result.ok && result.specs.length, 1500);
    assert.deepEqual(result.ok && result.specs[1499]!.spec.name, 'svc-1499');
    console.log(`# event loop ticks while a ${Math.round(big.length / 1024)} KiB text was parsed off-thread: ${ticks}`);
    assert.ok(ticks > 0, 'the main thread was not blocked throughout');
  } finally {
    clearInterval(timer);
  }
  const small = await parseSpecTextOffThread(ORIGINAL_FORGE_YAML, 'small.yaml', { baseDir: BASE_DIR });
  assert.equal(small.ok, true);
});

test('forge validate applies the same limits, with one line per problem', async () => {
  const { runCli } = await import('../../cli/index.ts');
  const dir = mkdtempSync(join(tmpdir(), 'forge-limits-cli-'));
  try {
    writeFileSync(join(dir, 'bomb.yaml'), '['.repeat(600 * 1024));
    writeFileSync(join(dir, 'deep.yaml'), `name: a\nimage: x\nlabels: ${'['.repeat(400 * 1024)}`);
    const result = await runCli(['validate', 'bomb.yaml', 'deep.yaml'], { cwd: dir, env: {} });
    assert.equal(result.exitCode, 1);
    assert.equal(result.stdout + result.stderr, [
      'bomb.yaml:1:1: YAML: the file is 600 KiB; a spec file may be at most 512 KiB',
      'deep.yaml:3:72: YAML: nested more than 64 levels deep',
      '',
    ].join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
