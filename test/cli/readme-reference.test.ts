// The README's command reference lists every command with its summary from
// cli/help.ts (the text `forge help` prints): the two cannot drift apart.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { HELP } from '../../cli/help.ts';

test('README lists every command with the summary forge help prints', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const [name, help] of Object.entries(HELP)) {
    assert.ok(readme.includes(`| \`forge ${name}\` | ${help.summary} |`), `README misses forge ${name}: ${help.summary}`);
  }
});
