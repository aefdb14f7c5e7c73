// Problems are values: a located message per mistake, collected (never thrown)
// so one run reports everything. Paths use dots for keys and brackets for list
// items, e.g. `health.interval`, `build.commands[1]`, `env["my key"]`.

import { ForgeError } from '../errors/index.ts';

export type PathSegment = string | number;

/** A problem before it is given a position: where in the document, and what. */
export interface SpecIssue {
  path: PathSegment[];
  message: string;
  /** Point at the key itself (unknown keys) rather than its value. */
  at?: 'key' | 'value';
}

export interface SpecProblem {
  file: string;
  /** 1-based; absent when the spec came as an object with no source text. */
  line?: number;
  col?: number;
  /** Dotted path such as `health.interval`; '' for the document itself. */
  path: string;
  message: string;
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** `file:line:col path: message`, dropping the parts a problem does not have. */
export function formatProblem(problem: SpecProblem): string {
  const where = problem.line === undefined ? problem.file : `${problem.file}:${problem.line}:${problem.col ?? 1}`;
  const head = [where, problem.path].filter((part) => part !== '').join(' ');
  return head === '' ? problem.message : `${head}: ${problem.message}`;
}

export function compareProblems(a: SpecProblem, b: SpecProblem): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  const byLine = (a.line ?? 0) - (b.line ?? 0);
  if (byLine !== 0) return byLine;
  const byCol = (a.col ?? 0) - (b.col ?? 0);
  if (byCol !== 0) return byCol;
  if (a.path !== b.path) return a.path < b.path ? -1 : 1;
  return a.message < b.message ? -1 : a.message > b.message ? 1 : 0;
}

/** The error to throw (or return from an API) when specs are invalid; the problems ride in `details`. */
export function specInvalidError(problems: readonly SpecProblem[]): ForgeError {
  const first = problems[0];
  const summary = first === undefined ? 'invalid service spec' : formatProblem(first);
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return new ForgeError('E_SPEC_INVALID', `${summary}${more}`, { details: problems });
}
