// The V8 flags the `forge` command runs with, read from bin/forge's shebang, so a
// bench measures a control plane configured the way users run it.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/forge', import.meta.url));

/** `#!/usr/bin/env -S node --a --b` → ['--a', '--b']. */
export function shebangNodeFlags(firstLine: string): string[] {
  const words = firstLine.replace(/^#!/, '').trim().split(/\s+/);
  const node = words.indexOf('node');
  return node < 0 ? [] : words.slice(node + 1).filter((w) => w.startsWith('--'));
}

export function forgeNodeFlags(): string[] {
  return shebangNodeFlags(readFileSync(BIN, 'utf8').split('\n', 1)[0] ?? '');
}
