// The service schema, compiled once per process. schemas/service.schema.json is
// the single source of truth for the spec's shape and its reference docs.

import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { issuesFromAjvErrors } from './messages.ts';
import type { SpecIssue } from './problems.ts';

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as unknown as (
  ajv: Ajv2020,
) => Ajv2020;

export const SERVICE_SCHEMA: Record<string, unknown> = JSON.parse(
  readFileSync(new URL('../schemas/service.schema.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

function compile() {
  // verbose: errors carry their parent schema, which holds the `x-kind` hints and the allowed keys.
  const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
  ajv.addKeyword({ keyword: 'x-kind', schemaType: 'string' });
  addFormats(ajv);
  return ajv.compile(SERVICE_SCHEMA);
}

const validateServiceSchema = compile();

/** Schema problems of one raw (parsed, not yet normalized) spec; [] when it fits the schema. */
export function schemaIssues(raw: unknown): SpecIssue[] {
  if (validateServiceSchema(raw)) return [];
  return issuesFromAjvErrors(validateServiceSchema.errors ?? [], raw);
}
