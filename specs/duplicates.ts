// A service name is its key: two specs with one name would fight over the same
// service, so every later definition is an error that names the first.

import type { SpecProblem } from './problems.ts';
import type { LoadedSpec } from './validate.ts';

function where(spec: LoadedSpec): string {
  return spec.line === undefined ? spec.file : `${spec.file}:${spec.line}:${spec.col ?? 1}`;
}

export function findDuplicateNames(specs: readonly LoadedSpec[]): SpecProblem[] {
  const first = new Map<string, LoadedSpec>();
  const problems: SpecProblem[] = [];
  for (const loaded of specs) {
    const earlier = first.get(loaded.spec.name);
    if (earlier === undefined) { first.set(loaded.spec.name, loaded); continue; }
    problems.push({
      file: loaded.file,
      line: loaded.line,
      col: loaded.col,
      path: 'name',
      message: `duplicate service name \`${loaded.spec.name}\`: also defined at ${where(earlier)}`,
    });
  }
  return problems;
}
