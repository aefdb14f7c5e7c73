// N copies of examples/node-hello in one folder, for benches that start many
// services at once: hello-00, hello-01, …, each with its own forge.yaml name and
// small resources (so many fit on one host). The same folders serve PM2.

import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const EXAMPLE = fileURLToPath(new URL('../../examples/node-hello/', import.meta.url));

export interface HelloCopy {
  name: string;
  dir: string;
}

export function helloName(index: number): string {
  return `hello-${String(index).padStart(2, '0')}`;
}

/** Copies the example `count` times under `root`; each forge.yaml gets its own name, `memory`, and `cpu`. */
export function makeHelloCopies(root: string, count: number, resources: { memory: string; cpu: number }): HelloCopy[] {
  const copies: HelloCopy[] = [];
  for (let i = 0; i < count; i += 1) {
    const name = helloName(i);
    const dir = path.join(root, name);
    cpSync(EXAMPLE, dir, { recursive: true });
    const specFile = path.join(dir, 'forge.yaml');
    const original = readFileSync(specFile, 'utf8');
    const spec = original
      .replace(/^name: node-hello$/m, `name: ${name}`)
      .replace(/^memory: .*$/m, `memory: ${resources.memory}`)
      .replace(/^(\s+)cpu: .*$/m, `$1cpu: ${resources.cpu}`);
    if (!spec.includes(`name: ${name}`) || !spec.includes(`cpu: ${resources.cpu}`)) {
      throw new Error('examples/node-hello/forge.yaml no longer has the expected name/cpu lines');
    }
    writeFileSync(specFile, spec);
    copies.push({ name, dir });
  }
  return copies;
}

/** Rewrites a copy's server.js VERSION (v1 → `version`). */
export function setVersion(dir: string, version: string): void {
  const file = path.join(dir, 'server.js');
  const text = readFileSync(file, 'utf8');
  const next = text.replace(/const VERSION = '[^']*'/, `const VERSION = '${version}'`);
  if (next === text) throw new Error('server.js no longer has the expected VERSION line');
  writeFileSync(file, next);
}
