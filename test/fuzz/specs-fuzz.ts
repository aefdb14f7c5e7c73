// Runs spec fuzz cases through specs/ and tallies what happened. A crash is a
// throw or an "internal error" problem (the validator's own catch-all); an
// unpositioned rejection is a problem of text without a line and column.

import { parseSpecText, validateSpecObject, type SpecProblem } from '../../specs/index.ts';
import { objectCase, specCase } from './spec-cases.ts';

export interface FuzzTally {
  cases: number;
  accepted: number;
  rejected: number;
  crashes: number;
  unpositioned: number;
  objectCases: number;
  objectCrashes: number;
  /** The first few failures, by case number, to reproduce with specCase(seed, index). */
  failures: { index: number; kind: 'crash' | 'unpositioned' | 'object-crash'; detail: string }[];
}

export function emptyTally(): FuzzTally {
  return { cases: 0, accepted: 0, rejected: 0, crashes: 0, unpositioned: 0, objectCases: 0, objectCrashes: 0, failures: [] };
}

const MAX_FAILURES_KEPT = 20;
const positioned = (p: SpecProblem) => Number.isInteger(p.line) && p.line! >= 1 && Number.isInteger(p.col) && p.col! >= 1;
const internal = (p: SpecProblem) => p.message.startsWith('internal error');

export type Verdict = { kind: 'accepted' | 'rejected' } | { kind: 'crash' | 'unpositioned'; detail: string };

export function judgeText(text: string): Verdict {
  let result;
  try {
    result = parseSpecText(text, 'fuzz.yaml', { baseDir: '/srv/app' });
  } catch (error) {
    return { kind: 'crash', detail: `threw ${String(error)}` };
  }
  if (result.ok) return { kind: 'accepted' };
  const crashed = result.problems.find(internal);
  if (crashed) return { kind: 'crash', detail: crashed.message };
  const loose = result.problems.find((p) => !positioned(p));
  if (loose) return { kind: 'unpositioned', detail: JSON.stringify(loose) };
  return { kind: 'rejected' };
}

export function judgeObject(value: unknown): string | undefined {
  try {
    const result = validateSpecObject(value, { baseDir: '/srv/app' });
    return result.ok ? undefined : result.problems.find(internal)?.message;
  } catch (error) {
    return `threw ${String(error)}`;
  }
}

/** Cases [from, to) of `seed`: every case as text, every fifth also as an object. */
export function runSpecFuzz(seed: number, from: number, to: number): FuzzTally {
  const tally = emptyTally();
  const fail = (index: number, kind: FuzzTally['failures'][number]['kind'], detail: string) => {
    if (tally.failures.length < MAX_FAILURES_KEPT) tally.failures.push({ index, kind, detail: detail.slice(0, 300) });
  };
  for (let index = from; index < to; index += 1) {
    tally.cases += 1;
    const verdict = judgeText(specCase(seed, index));
    if (verdict.kind === 'accepted') tally.accepted += 1;
    else tally.rejected += 1;
    if (verdict.kind === 'crash') {
      tally.crashes += 1;
      fail(index, 'crash', verdict.detail);
    } else if (verdict.kind === 'unpositioned') {
      tally.unpositioned += 1;
      fail(index, 'unpositioned', verdict.detail);
    }
    if (index % 5 === 0) {
      tally.objectCases += 1;
      const crash = judgeObject(objectCase(seed, index));
      if (crash !== undefined) {
        tally.objectCrashes += 1;
        fail(index, 'object-crash', crash);
      }
    }
  }
  return tally;
}

export function addTallies(a: FuzzTally, b: FuzzTally): FuzzTally {
  return {
    cases: a.cases + b.cases, accepted: a.accepted + b.accepted, rejected: a.rejected + b.rejected,
    crashes: a.crashes + b.crashes, unpositioned: a.unpositioned + b.unpositioned,
    objectCases: a.objectCases + b.objectCases, objectCrashes: a.objectCrashes + b.objectCrashes,
    failures: [...a.failures, ...b.failures].slice(0, MAX_FAILURES_KEPT),
  };
}

/** The lines `npm run test:fuzz` prints. */
export function summaryLines(t: FuzzTally): string[] {
  return [
    `fuzz specs: ${t.cases} cases, ${t.crashes} crashes, ${t.unpositioned} unpositioned rejections (${t.accepted} accepted, ${t.rejected} rejected)`,
    `fuzz spec objects: ${t.objectCases} cases, ${t.objectCrashes} crashes`,
  ];
}
