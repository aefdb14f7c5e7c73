// Whether the compiled CLI in dist/ can run: bin/forge's check before it imports
// dist/ rather than the TypeScript sources. Plain JS (it runs before any compiler).

import { readdirSync, statSync } from 'node:fs';

// The rooms scripts/build.sh compiles (tsconfig.build.json's include).
export const ROOMS = ['schemas', 'specs', 'store', 'reconciler', 'providers', 'agent', 'router', 'api', 'cli'];

/** Why `<root>/dist` cannot be used, or undefined when its build is at least as new as every source file. */
export function staleReason(root) {
  let built;
  try {
    built = statSync(`${root}/dist/.build-stamp`).mtimeMs;
  } catch {
    return 'there is no compiled build in dist/';
  }
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return undefined;
    }
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        const newer = walk(path);
        if (newer) return newer;
      } else if (entry.name.endsWith('.ts') && statSync(path).mtimeMs > built) return path;
    }
    return undefined;
  };
  for (const room of ROOMS) {
    const newer = walk(`${root}/${room}`);
    if (newer) return `${newer.slice(root.length + 1)} is newer than the build in dist/`;
  }
  return undefined;
}
