// Limits checked before YAML is parsed, in one linear pass over the text: the YAML
// library's composer is quadratic on deeply nested flow collections (1 MiB of `[`
// took seconds and gigabytes), so text that is too big, nested too deep or holds
// too many aliases is refused here with a positioned problem and never reaches it.
// The scan is deliberately conservative: it counts a bracket, a dash or an alias only
// where YAML could start a node, so brackets inside scalars and block text
// (`if [ -f x ]`) never count. Pure.

import type { SpecProblem } from './problems.ts';

export const SPEC_LIMITS = {
  /** Bytes of one spec text or file. A real spec is a few KiB; 1,000 services fit in well under this. */
  maxBytes: 512 * 1024,
  /** Nesting of mappings, sequences and flow collections. A real spec nests 4 deep. */
  maxDepth: 64,
  /** Alias references (`*name`) in one text. */
  maxAliases: 100,
  /** Problems reported per text; the rest are counted. */
  maxProblems: 20,
} as const;

export function tooLargeProblem(file: string, bytes: number, what: 'text' | 'file'): SpecProblem {
  return {
    file, line: 1, col: 1, path: '',
    message: `YAML: the ${what} is ${Math.ceil(bytes / 1024)} KiB; a spec file may be at most ${SPEC_LIMITS.maxBytes / 1024} KiB`,
  };
}

/** Whether `ch` can precede a node start inside a flow collection (`[a, [b]]`, `{k: [v]}`). */
const FLOW_BEFORE = new Set(['[', '{', ',', ':', '?']);

/** The first limit `text` breaks, as a problem at the place it broke; null when within limits. */
export function checkSpecLimits(text: string, file: string): SpecProblem | null {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > SPEC_LIMITS.maxBytes) return tooLargeProblem(file, bytes, 'text');

  const at = (offset: number, message: string): SpecProblem => {
    const { line, col } = position(text, offset);
    return { file, line, col, path: '', message: `YAML: ${message}` };
  };
  const block: number[] = []; // columns where the open block nodes start
  let flow = 0;
  let aliases = 0;
  let blockScalarIndent = -1; // lines indented deeper than this belong to a block scalar
  const tooDeep = (offset: number) => at(offset, `nested more than ${SPEC_LIMITS.maxDepth} levels deep`);
  let i = 0;
  const n = text.length;
  while (i < n) {
    // One line per iteration: its indentation first.
    const lineStart = i;
    while (i < n && text[i] === ' ') i += 1;
    const indent = i - lineStart;
    let lineEnd = text.indexOf('\n', i);
    if (lineEnd === -1) lineEnd = n;
    const blank = i >= lineEnd || text[i] === '#' || text[i] === '\r';
    if (blockScalarIndent >= 0) {
      if (blank || indent > blockScalarIndent) { i = lineEnd + 1; continue; }
      blockScalarIndent = -1;
    }
    if (blank) { i = lineEnd + 1; continue; }
    if (flow === 0) {
      if (indent === 0 && (text.startsWith('---', i) || text.startsWith('...', i))) { block.length = 0; i = lineEnd + 1; continue; }
      while (block.length > 0 && block[block.length - 1]! >= indent) block.pop();
      block.push(indent);
      if (block.length > SPEC_LIMITS.maxDepth) return tooDeep(i);
    }
    let nodeStart = flow === 0; // at the start of a block line, a node may start
    let prev = '';
    for (; i < lineEnd; i += 1) {
      const ch = text[i]!;
      if (ch === ' ' || ch === '\t' || ch === '\r') {
        if (prev === ':' || prev === '-' || prev === '?') nodeStart = true;
        prev = ' ';
        continue;
      }
      if (ch === '#' && prev === ' ') break; // a comment runs to the end of the line
      const starts = nodeStart || (flow > 0 && FLOW_BEFORE.has(prev === ' ' ? lastSignificant(text, i) : prev));
      nodeStart = false;
      if (starts && (ch === '"' || ch === "'")) {
        const close = quotedEnd(text, i);
        if (close < 0) return null; // unterminated: the parser reports it
        i = close;
        if (close > lineEnd) {
          lineEnd = text.indexOf('\n', close);
          if (lineEnd === -1) lineEnd = n;
        }
      } else if (starts && (ch === '[' || ch === '{')) {
        flow += 1;
        if (block.length + flow > SPEC_LIMITS.maxDepth) return tooDeep(i);
      } else if ((ch === ']' || ch === '}') && flow > 0) {
        flow -= 1;
      } else if (starts && ch === '-' && flow === 0 && (text[i + 1] === ' ' || i + 1 === lineEnd)) {
        // `- - - a`: each compact dash opens one more sequence level.
        block.push(i - lineStart);
        if (block.length > SPEC_LIMITS.maxDepth) return tooDeep(i);
      } else if (starts && ch === '*') {
        aliases += 1;
        if (aliases > SPEC_LIMITS.maxAliases) return at(i, `more than ${SPEC_LIMITS.maxAliases} aliases`);
      } else if (starts && (ch === '|' || ch === '>') && flow === 0) {
        blockScalarIndent = indent;
      }
      prev = ch;
    }
    i = lineEnd + 1;
  }
  return null;
}

function lastSignificant(text: string, i: number): string {
  for (let j = i - 1; j >= 0; j -= 1) {
    const c = text[j]!;
    if (c !== ' ' && c !== '\t' && c !== '\r' && c !== '\n') return c;
  }
  return '';
}

/** Offset of the closing quote of the scalar opening at `start`, or -1. */
function quotedEnd(text: string, start: number): number {
  const quote = text[start];
  for (let j = start + 1; j < text.length; j += 1) {
    const c = text[j];
    if (quote === '"' && c === '\\') { j += 1; continue; }
    if (c === quote) {
      if (quote === "'" && text[j + 1] === "'") { j += 1; continue; }
      return j;
    }
  }
  return -1;
}

function position(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let j = text.indexOf('\n'); j !== -1 && j < offset; j = text.indexOf('\n', j + 1)) {
    line += 1;
    lineStart = j + 1;
  }
  return { line, col: offset - lineStart + 1 };
}

/** Duplicates dropped (same place, same message), then at most `maxProblems`, then one line counting the rest. */
export function collapseProblems(problems: readonly SpecProblem[], file: string): SpecProblem[] {
  const seen = new Set<string>();
  const unique: SpecProblem[] = [];
  for (const p of problems) {
    const key = `${p.file}\0${p.line ?? ''}\0${p.col ?? ''}\0${p.path}\0${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    unique.push(p);
  }
  if (unique.length <= SPEC_LIMITS.maxProblems) return unique;
  const rest = unique.length - SPEC_LIMITS.maxProblems;
  // Positioned at the first one left out, so it reads like the others: `f.yaml:40:7: 280 more problems from here on`.
  const first = unique[SPEC_LIMITS.maxProblems]!;
  const where = first.line === undefined ? {} : { line: first.line, col: first.col ?? 1 };
  return [...unique.slice(0, SPEC_LIMITS.maxProblems), { file: first.file ?? file, ...where, path: '', message: `${rest} more problems from here on` }];
}
