import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findSpecFiles, formatProblem, loadSpecs } from '../../specs/index.ts';
import { REPO_ROOT } from './helpers.ts';

async function withTree(files: Record<string, string>, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'forge-specs-'));
  try {
    for (const [name, text] of Object.entries(files)) {
      await mkdir(join(dir, name, '..'), { recursive: true });
      await writeFile(join(dir, name), text);
    }
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a folder is searched recursively for *.yaml and *.yml in sorted order', async () => {
  await withTree({
    'b.yml': 'name: b\nimage: x\n',
    'a/z.yaml': 'name: z\nrun: {command: ./z}\nsource: src\n',
    'a.yaml': 'name: a1\nimage: x\n---\nname: a2\nimage: x\n',
    'notes.txt': 'not a spec',
    '.hidden/h.yaml': 'name: hidden\n',
    'node_modules/m/m.yaml': 'name: dep\n',
  }, async (dir) => {
    const result = await loadSpecs(['.'], { cwd: dir });
    assert.ok(result.ok);
    assert.deepEqual(result.specs.map((s) => [s.file, s.spec.name]), [['a/z.yaml', 'z'], ['a.yaml', 'a1'], ['a.yaml', 'a2'], ['b.yml', 'b']]);
    assert.equal(result.specs[0]?.spec.sourceDir, join(dir, 'a', 'src'));
  });
});

test('duplicate names across files name both files with positions', async () => {
  await withTree({
    'one.yaml': 'name: web\nimage: x\n',
    'two/web.yaml': '# the same service again\nname: web\nimage: y\n',
  }, async (dir) => {
    const result = await loadSpecs(['one.yaml', 'two'], { cwd: dir });
    assert.equal(result.ok, false);
    assert.deepEqual(result.ok ? [] : result.problems.map(formatProblem), [
      'two/web.yaml:2:7 name: duplicate service name `web`: also defined at one.yaml:1:7',
    ]);
  });
});

test('a file given twice is loaded once; problems from all files come together', async () => {
  await withTree({
    'ok.yaml': 'name: ok\nimage: x\n',
    'bad1.yaml': 'name: bad1\nimage: x\nport: x\n',
    'bad2.yaml': 'name: bad2\n',
  }, async (dir) => {
    const result = await loadSpecs(['ok.yaml', 'ok.yaml', '.'], { cwd: dir });
    assert.deepEqual(result.ok ? [] : result.problems.map(formatProblem), [
      'bad1.yaml:3:7 port: should be an integer',
      'bad2.yaml:1:1: a service needs `image` (image mode) or `run.command` (source mode)',
    ]);
  });
});

test('missing paths and folders without specs are problems, reported as missing', async () => {
  await withTree({ 'empty/readme.md': '# none' }, async (dir) => {
    const found = await findSpecFiles(['nope', 'empty'], { cwd: dir });
    assert.deepEqual(found.missing, ['nope']);
    assert.deepEqual(found.problems.map(formatProblem), ['nope: no such file or directory', 'empty: no *.yaml or *.yml files in this directory']);
    const result = await loadSpecs(['nope'], { cwd: dir });
    assert.deepEqual(result.ok ? [] : result.problems.map(formatProblem), ['nope: no such file or directory']);
  });
});

test('the examples folder is valid', async () => {
  const result = await loadSpecs(['examples'], { cwd: REPO_ROOT });
  assert.deepEqual(result.ok ? result.specs.map((s) => s.spec.name) : result.problems.map(formatProblem), [
    'node-hello', 'python-hello', 'web', 'cache', 'api', 'reports',
  ]);
});
