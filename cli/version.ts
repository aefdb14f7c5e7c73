// Forge's version: package.json's, read when asked (`forge --version`, help).

import { readFileSync } from 'node:fs';

export function forgeVersion(): string {
  try {
    // From cli/ (tsx) and from dist/cli/ (compiled; the build links dist/package.json).
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
