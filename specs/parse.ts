// YAML text → LoadedSpec[] or positioned problems. Multi-document text is one
// spec per document; empty documents (a trailing `---`) are skipped.

import { LineCounter, parseAllDocuments, type Document, type YAMLError } from 'yaml';
import { findDuplicateNames } from './duplicates.ts';
import { checkSpecLimits, collapseProblems, SPEC_LIMITS } from './limits.ts';
import { compareProblems, formatPath, type SpecProblem } from './problems.ts';
import { locateNode, nodePosition } from './positions.ts';
import { specHash } from './hash.ts';
import { checkRawSpec, type LoadedSpec, type SpecOptions, type SpecResult } from './validate.ts';

// Enough for legitimate reuse of anchors; far below what a billion-laughs document needs.
const MAX_ALIAS_COUNT = SPEC_LIMITS.maxAliases;

export interface ParsedText {
  specs: LoadedSpec[];
  problems: SpecProblem[];
}

function yamlProblem(error: YAMLError, file: string, lineCounter: LineCounter): SpecProblem {
  const { line, col } = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
  const firstLine = error.message.split('\n')[0] ?? error.message;
  const message = firstLine.replace(/ at line \d+, column \d+:?$/, '');
  return { file, line, col, path: '', message: `YAML: ${message}` };
}

/** Validates one document into `out`; false when the document is empty (a bare `---`, `~`). */
function documentSpecs(doc: Document, file: string, lineCounter: LineCounter, options: SpecOptions, out: ParsedText): boolean {
  const docStart = doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0;
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    const { line, col } = lineCounter.linePos(docStart);
    const reason = error instanceof Error ? error.message : String(error);
    out.problems.push({ file, line, col, path: '', message: `YAML: ${reason}` });
    return true;
  }
  if (raw === null || raw === undefined) return false;
  const { issues, spec } = checkRawSpec(raw, options);
  for (const issue of issues) {
    const { line, col } = nodePosition(locateNode(doc, issue.path, issue.at), lineCounter, docStart);
    out.problems.push({ file, line, col, path: formatPath(issue.path), message: issue.message });
  }
  if (spec !== undefined) {
    const { line, col } = nodePosition(locateNode(doc, ['name']), lineCounter, docStart);
    out.specs.push({ spec, hash: specHash(spec), file, line, col });
  }
  return true;
}

/** Every document of one text, without the cross-document duplicate check (the loader runs that once over all files). */
export function parseDocuments(text: string, file: string, options: SpecOptions = {}): ParsedText {
  const out: ParsedText = { specs: [], problems: [] };
  // Size, nesting and aliases first, in one linear pass: hostile text never reaches the parser.
  const limit = checkSpecLimits(text, file);
  if (limit !== null) return { specs: [], problems: [limit] };
  const lineCounter = new LineCounter();
  let nonEmpty = 0;
  try {
    const docs = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
    for (const doc of docs) {
      const yamlErrors = [...doc.errors, ...doc.warnings];
      if (yamlErrors.length > 0) {
        nonEmpty++;
        out.problems.push(...yamlErrors.map((error) => yamlProblem(error, file, lineCounter)));
        continue;
      }
      if (documentSpecs(doc, file, lineCounter, options, out)) nonEmpty++;
    }
  } catch (error) {
    // Never throw on input; a crash here is a bug, reported as a problem rather than lost.
    out.problems.push({ file, line: 1, col: 1, path: '', message: `internal error while validating: ${String(error)}` });
  }
  if (nonEmpty === 0 && out.problems.length === 0) {
    out.problems.push({ file, line: 1, col: 1, path: '', message: 'no service spec found (the file is empty)' });
  }
  return out;
}

/** Parses and validates YAML text holding one or more specs (API uploads, webhook checkouts). */
export function parseSpecText(text: string, fileName: string, options: SpecOptions = {}): SpecResult {
  const { specs, problems } = parseDocuments(text, fileName, options);
  problems.push(...findDuplicateNames(specs));
  if (problems.length > 0) return { ok: false, problems: collapseProblems(problems.sort(compareProblems), fileName) };
  return { ok: true, specs };
}
