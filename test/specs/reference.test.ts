import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderSpecReference } from '../../specs/reference.ts';

test('docs/spec.md is generated from the schema and up to date (run npx tsx scripts/gen-spec-docs.ts)', () => {
  const committed = readFileSync(new URL('../../docs/spec.md', import.meta.url), 'utf8');
  assert.equal(committed, renderSpecReference());
});

test('every documented key has a description', () => {
  for (const line of renderSpecReference().split('\n').filter((l) => l.startsWith('| `'))) {
    const description = line.split(' | ')[3] ?? '';
    assert.ok(description.trim().length > 0, line);
  }
});
