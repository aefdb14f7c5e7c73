// One raw spec (a YAML document's value, or an API body) → issues or a
// normalized ServiceSpec. Schema problems and cross-field rules are reported
// together so a person fixes everything in one pass.

import { normalizeSpec, resolveSourceDir } from './normalize.ts';
import { ruleIssues } from './rules.ts';
import { schemaIssues } from './schema.ts';
import { specHash } from './hash.ts';
import type { ServiceSpec } from './types.ts';
import type { SpecIssue, SpecProblem } from './problems.ts';
import { formatPath } from './problems.ts';

export interface SpecOptions {
  /** Directory `source` is relative to; the spec file's directory when loading files. */
  baseDir?: string;
}

export interface LoadedSpec {
  spec: ServiceSpec;
  /** specHash(spec): changes exactly when the spec's meaning changes. */
  hash: string;
  /** Where it came from; '' for a spec given as an object. */
  file: string;
  /** Position of the spec's `name` in the file, when it came from text. */
  line?: number;
  col?: number;
}

export type SpecResult = { ok: true; specs: LoadedSpec[] } | { ok: false; problems: SpecProblem[] };

/** Without a base directory a relative `source` cannot be turned into a path. */
function sourceIssues(raw: unknown, baseDir: string | undefined): SpecIssue[] {
  if (raw === null || typeof raw !== 'object') return [];
  const { image, source } = raw as Record<string, unknown>;
  if (image !== undefined || typeof source !== 'string') return [];
  if (resolveSourceDir(source, baseDir) !== undefined) return [];
  return [{ path: ['source'], message: 'is a relative directory, but this spec has no base directory to resolve it against' }];
}

export function checkRawSpec(raw: unknown, options: SpecOptions = {}): { issues: SpecIssue[]; spec?: ServiceSpec } {
  const issues = [...schemaIssues(raw), ...ruleIssues(raw), ...sourceIssues(raw, options.baseDir)];
  if (issues.length > 0) return { issues };
  return { issues, spec: normalizeSpec(raw as Record<string, unknown>, options) };
}

/** Validates a spec given as a value (API bodies); problems carry a path but no position. */
export function validateSpecObject(obj: unknown, options: SpecOptions & { file?: string } = {}): SpecResult {
  const file = options.file ?? '';
  try {
    const { issues, spec } = checkRawSpec(obj, options);
    if (spec === undefined) {
      return { ok: false, problems: issues.map((issue) => ({ file, path: formatPath(issue.path), message: issue.message })) };
    }
    return { ok: true, specs: [{ spec, hash: specHash(spec), file }] };
  } catch (error) {
    // Never throw on input; a crash here is a bug, reported as a problem rather than lost.
    return { ok: false, problems: [{ file, path: '', message: `internal error while validating: ${String(error)}` }] };
  }
}
