// Whatever text arrives (a typo'd file, a truncated upload, binary junk),
// validation returns problems instead of throwing, and every rejection of text
// says where: a line and a column.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parseSpecText, validateSpecObject, type SpecResult } from '../../specs/index.ts';
import { ORIGINAL_FORGE_YAML, REPO_ROOT } from './helpers.ts';

const VALID_CORPUS = [
  ORIGINAL_FORGE_YAML,
  readFileSync(`${REPO_ROOT}/examples/specs/web.yaml`, 'utf8'),
  readFileSync(`${REPO_ROOT}/examples/specs/workers.yaml`, 'utf8'),
  readFileSync(`${REPO_ROOT}/examples/node-hello/forge.yaml`, 'utf8'),
];

const YAMLISH = fc.string({
  unit: fc.constantFrom(...'name:image-run\n\n  - []{},#&*!|>\'"%@`?~0123456789.sMGi_ABC\t'.split('')),
  maxLength: 300,
});

function assertPositioned(result: SpecResult): void {
  if (result.ok) return;
  assert.ok(result.problems.length > 0);
  for (const problem of result.problems) {
    assert.ok(Number.isInteger(problem.line) && problem.line! >= 1, `line in ${JSON.stringify(problem)}`);
    assert.ok(Number.isInteger(problem.col) && problem.col! >= 1, `col in ${JSON.stringify(problem)}`);
    assert.ok(!problem.message.startsWith('internal error'), problem.message);
  }
}

/** One edit to a text: the kinds of slips people make in YAML. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: YAMLISH.map((s) => s.slice(0, 8)) }),
  fc.record({ kind: fc.constant('duplicateLine' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swapLines' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('indent' as const), at: fc.nat(), by: fc.integer({ min: -2, max: 3 }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(text: string, edit: Mutation): string {
  const lines = text.split('\n');
  const line = edit.at % Math.max(lines.length, 1);
  switch (edit.kind) {
    case 'delete': {
      const at = edit.at % Math.max(text.length, 1);
      return text.slice(0, at) + text.slice(at + edit.length);
    }
    case 'insert': {
      const at = edit.at % (text.length + 1);
      return text.slice(0, at) + edit.text + text.slice(at);
    }
    case 'duplicateLine':
      lines.splice(line, 0, lines[line] ?? '');
      return lines.join('\n');
    case 'swapLines': {
      const next = (line + 1) % lines.length;
      [lines[line], lines[next]] = [lines[next] ?? '', lines[line] ?? ''];
      return lines.join('\n');
    }
    case 'indent': {
      const current = lines[line] ?? '';
      lines[line] = edit.by >= 0 ? ' '.repeat(edit.by) + current : current.slice(-edit.by);
      return lines.join('\n');
    }
  }
}

test('random text never throws and every rejection carries a position', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), YAMLISH), (text) => {
      assertPositioned(parseSpecText(text, 'random.yaml', { baseDir: '/srv' }));
    }),
    { numRuns: 600 },
  );
});

test('mutated valid YAML never throws and every rejection carries a position', () => {
  fc.assert(
    fc.property(fc.constantFrom(...VALID_CORPUS), fc.array(mutation, { minLength: 1, maxLength: 4 }), (text, edits) => {
      const mutated = edits.reduce(mutate, text);
      assertPositioned(parseSpecText(mutated, 'mutated.yaml', { baseDir: '/srv' }));
    }),
    { numRuns: 800 },
  );
});

test('arbitrary values given as objects never throw', () => {
  fc.assert(
    fc.property(fc.anything(), (value) => {
      const result = validateSpecObject(value, { baseDir: '/srv' });
      if (!result.ok) for (const problem of result.problems) assert.ok(!problem.message.startsWith('internal error'), problem.message);
    }),
    { numRuns: 400 },
  );
});
