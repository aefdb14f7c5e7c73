// Turns ajv's errors into messages a person can act on, attached to a path in
// the document. The schema's `x-kind` annotation says which unit or naming rule
// a field follows, so the message can show an example of what is accepted.

import type { ErrorObject } from 'ajv';
import type { PathSegment, SpecIssue } from './problems.ts';

type Schema = Record<string, unknown>;

const KIND_MESSAGES: Record<string, (shown: string) => string> = {
  duration: (v) => `${v} is not a duration (use 10s, 1500ms, 2m)`,
  memory: (v) => `${v} is not a memory size (use 512, 256M, 1Gi)`,
  'cpu-tier': (v) => `${v} is not a cpu tier (use shared-1x, shared-2x, performance-4x, …; N is 1, 2, 4, 8 or 16)`,
  'dns-label': (v) => `${v} is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit`,
  region: (v) => `${v} is not a valid region: use lowercase letters, digits and '-'`,
  'env-name': (v) => `${v} is not a valid variable name: use A-Z, 0-9 and _, not starting with a digit`,
  'http-path': (v) => `${v} should start with /`,
  image: (v) => `${v} is not an image reference (it may not contain spaces)`,
  hostname: (v) => `${v} is not a valid host name`,
};

/** Kinds whose wrong-type errors read better as "not a duration" than "should be a string". */
const UNIT_KINDS = new Set(['duration', 'memory', 'cpu-tier']);

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean (true or false)',
  object: 'a mapping',
  array: 'a list',
  null: 'null',
};

/** A value quoted for a message: short, single-line, in backticks. */
export function show(value: unknown): string {
  let text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  text = text.replace(/\s+/g, ' ');
  if (text.length > 60) text = `${text.slice(0, 57)}...`;
  return `\`${text}\``;
}

export function describeTypes(types: readonly string[]): string {
  const names = types.map((t) => TYPE_NAMES[t] ?? t);
  if (names.length <= 1) return names[0] ?? 'something else';
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

/** Optimal-string-alignment distance: Levenshtein plus adjacent swaps (`memroy`). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) { row.push(j); continue; }
      const prev = rows[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/** The closest candidate within a small edit distance (case-insensitive), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const limit = word.length <= 3 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of [...candidates].sort()) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) { best = candidate; bestDistance = distance; }
  }
  return best;
}

function propertiesOf(schema: unknown): Schema {
  const props = (schema as Schema | undefined)?.properties;
  return props !== null && typeof props === 'object' ? (props as Schema) : {};
}

/** "did you mean" for an unknown key: a near sibling, or the same key one level down (`command` → `run.command`). */
function suggestKey(key: string, parentSchema: unknown): string | undefined {
  const siblings = propertiesOf(parentSchema);
  const near = closest(key, Object.keys(siblings));
  if (near !== undefined) return near;
  for (const [name, child] of Object.entries(siblings).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (Object.hasOwn(propertiesOf(child), key)) return `${name}.${key}`;
  }
  return undefined;
}

/** ajv's JSON-pointer instancePath as path segments, with list indexes as numbers. */
export function pointerToPath(pointer: string, data: unknown): PathSegment[] {
  if (pointer === '') return [];
  const path: PathSegment[] = [];
  let node: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) { path.push(Number(key)); node = node[Number(key)]; }
    else { path.push(key); node = node !== null && typeof node === 'object' ? (node as Schema)[key] : undefined; }
  }
  return path;
}

function kindOf(error: ErrorObject): string | undefined {
  const kind = (error.parentSchema as Schema | undefined)?.['x-kind'];
  return typeof kind === 'string' ? kind : undefined;
}

function kindMessage(kind: string | undefined, value: unknown): string | undefined {
  const make = kind === undefined ? undefined : KIND_MESSAGES[kind];
  return make?.(show(value));
}

/** One ajv error as an issue, or undefined for errors another error already explains. */
export function issueFromAjvError(error: ErrorObject, data: unknown): SpecIssue | undefined {
  const path = pointerToPath(error.instancePath, data);
  const kind = kindOf(error);
  const value = error.data;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const hint = suggestKey(key, error.parentSchema);
      const message = `unknown key \`${key}\`${hint === undefined ? '' : `; did you mean \`${hint}\`?`}`;
      return { path: [...path, key], message, at: 'key' };
    }
    case 'required':
      return { path: [...path, String(params.missingProperty)], message: `missing required key \`${String(params.missingProperty)}\`` };
    case 'propertyNames': {
      const key = String(params.propertyName);
      const nameKind = (error.schema as Schema | undefined)?.['x-kind'];
      const message = kindMessage(typeof nameKind === 'string' ? nameKind : undefined, key) ?? `${show(key)} is not an allowed key`;
      return { path: [...path, key], message, at: 'key' };
    }
    case 'type': {
      if (path.length === 0) return { path, message: 'a service spec should be a mapping of keys (like `name: web`)' };
      if (kind !== undefined && UNIT_KINDS.has(kind)) return { path, message: kindMessage(kind, value)! };
      const types = Array.isArray(params.type) ? (params.type as string[]) : [String(params.type)];
      return { path, message: `should be ${describeTypes(types)}` };
    }
    case 'pattern':
    case 'format':
      return { path, message: kindMessage(kind, value) ?? `${show(value)} is not in the expected form` };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const hint = typeof value === 'string' ? closest(value, allowed) : undefined;
      const list = allowed.map((a) => `\`${a}\``).join(', ');
      return { path, message: `${show(value)} is not one of ${list}${hint === undefined ? '' : `; did you mean \`${hint}\`?`}` };
    }
    case 'minimum':
    case 'maximum':
      if (kind === 'memory') return { path, message: `${show(value)} MB is out of range (256..8192 MB)` };
      return { path, message: `should be ${error.keyword === 'minimum' ? 'at least' : 'at most'} ${String(params.limit)}` };
    case 'minLength':
      return { path, message: Number(params.limit) === 1 ? 'should not be empty' : `should be at least ${String(params.limit)} characters` };
    case 'maxLength':
      return { path, message: `should be at most ${String(params.limit)} characters` };
    case 'uniqueItems': {
      const list = Array.isArray(value) ? value : [];
      const j = Number(params.j);
      return { path: [...path, j], message: `${show(list[j])} is listed twice` };
    }
    default:
      return { path, message: (error.message ?? 'is invalid').replace(/^must/, 'should') };
  }
}

/** Every ajv error as an issue: at most one per path, nested propertyNames errors folded into their parent. */
export function issuesFromAjvErrors(errors: readonly ErrorObject[], data: unknown): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    if (error.schemaPath.includes('/propertyNames/')) continue;
    const issue = issueFromAjvError(error, data);
    if (issue === undefined) continue;
    const key = JSON.stringify([issue.at ?? 'value', issue.path]);
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  return issues;
}
