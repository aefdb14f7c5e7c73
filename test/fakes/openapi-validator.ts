// Validates HTTP traffic against an OpenAPI 3.0 contract (Fly's Machines API spec),
// so the Fly fake and the client that talks to it cannot drift from the real API.
// OpenAPI 3.0 schemas are converted to JSON Schema (nullable → type union, local
// component refs → absolute refs into one registered document), then compiled
// lazily with ajv and cached per operation.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats ships CJS; under NodeNext its default import is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

export const FLY_CONTRACT_PATH = fileURLToPath(
  new URL('../../../shared/contracts/fly-machines-openapi.json', import.meta.url),
);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface ParameterDef {
  name: string;
  in: string;
  required?: boolean;
  schema?: JsonObject;
}

interface Operation {
  parameters?: ParameterDef[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonObject }> };
  responses?: Record<string, { content?: Record<string, { schema?: JsonObject }> }>;
}

interface Route {
  template: string;
  regex: RegExp;
  literalSegments: number;
  ops: Record<string, Operation>;
}

export interface RouteMatch {
  template: string;
  operation: Operation;
}

export interface ContractValidator {
  match(method: string, path: string): RouteMatch | undefined;
  /** Problems with a request: unknown operation, untyped or mistyped query params, body shape. */
  validateRequest(method: string, path: string, query: URLSearchParams, body: unknown): string[];
  /** Problems with a response body for the status returned (or `default`). */
  validateResponse(method: string, path: string, status: number, body: unknown): string[];
}

const DOC_ID = 'contract';
const DROPPED_KEYS = new Set(['example', 'nullable', 'x-enum-varnames', 'discriminator', 'xml', 'externalDocs', 'deprecated']);

/** OpenAPI 3.0 schema → JSON Schema (draft-07 flavoured, as ajv's default). */
export function toJsonSchema(node: Json): Json {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (DROPPED_KEYS.has(key) || key.startsWith('x-')) continue;
    if (key === '$ref' && typeof value === 'string' && value.startsWith('#/')) {
      out[key] = `${DOC_ID}${value}`;
    } else if (key === 'properties' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      // Property names are data, not keywords: never drop one called "example".
      out[key] = Object.fromEntries(Object.entries(value).map(([name, schema]) => [name, toJsonSchema(schema)]));
    } else {
      out[key] = toJsonSchema(value);
    }
  }
  if (node['nullable'] === true) {
    if (typeof out['type'] === 'string') out['type'] = [out['type'], 'null'];
    if (Array.isArray(out['enum'])) out['enum'] = [...out['enum'], null];
  }
  return out;
}

function compileRoutes(paths: Record<string, Record<string, Operation>>): Route[] {
  const routes = Object.entries(paths).map(([template, ops]) => {
    const segments = template.split('/');
    const pattern = segments.map((s) => (/^\{[^}]+\}$/.test(s) ? '[^/]+' : s.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))).join('/');
    return {
      template,
      regex: new RegExp(`^${pattern}$`),
      literalSegments: segments.filter((s) => !s.startsWith('{')).length,
      ops,
    };
  });
  // A literal segment beats a parameter when two templates match the same path.
  return routes.sort((a, b) => b.literalSegments - a.literalSegments);
}

function checkQueryValue(name: string, value: string, schema: JsonObject | undefined): string | undefined {
  if (!schema) return undefined;
  const type = schema['type'];
  if (type === 'boolean' && value !== 'true' && value !== 'false') return `query ${name}=${value} is not a boolean`;
  if (type === 'integer' && !/^-?\d+$/.test(value)) return `query ${name}=${value} is not an integer`;
  if (type === 'number' && Number.isNaN(Number(value))) return `query ${name}=${value} is not a number`;
  const allowed = schema['enum'];
  if (Array.isArray(allowed)) {
    const parts = value.split(',');
    const bad = parts.find((p) => !allowed.includes(p));
    if (bad !== undefined) return `query ${name}=${value}: ${bad} is not one of ${allowed.join(', ')}`;
  }
  return undefined;
}

/** Finds the declared parameter for a query name, including templated names like `metadata.{key}`. */
function findQueryParam(params: ParameterDef[], name: string): ParameterDef | undefined {
  return params.find((p) => {
    if (p.in !== 'query') return false;
    if (p.name === name) return true;
    const brace = p.name.indexOf('{');
    return brace > 0 && name.startsWith(p.name.slice(0, brace)) && name.length > brace;
  });
}

export function createContractValidator(contractPath: string = FLY_CONTRACT_PATH): ContractValidator {
  const doc = JSON.parse(readFileSync(contractPath, 'utf8')) as {
    paths: Record<string, Record<string, Operation>>;
    components: { schemas: Record<string, Json> };
  };
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addSchema({ $id: DOC_ID, components: toJsonSchema(doc.components as unknown as Json) } as object);
  const routes = compileRoutes(doc.paths);
  const compiled = new Map<string, ValidateFunction>();

  const validatorFor = (cacheKey: string, schema: JsonObject): ValidateFunction => {
    let fn = compiled.get(cacheKey);
    if (!fn) {
      fn = ajv.compile(toJsonSchema(schema) as object);
      compiled.set(cacheKey, fn);
    }
    return fn;
  };

  const schemaErrors = (label: string, fn: ValidateFunction, body: unknown): string[] =>
    fn(body) ? [] : (fn.errors ?? []).map((e) => `${label}${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);

  const match = (method: string, path: string): RouteMatch | undefined => {
    const m = method.toLowerCase();
    for (const route of routes) {
      if (!route.regex.test(path)) continue;
      const operation = route.ops[m];
      if (operation) return { template: route.template, operation };
    }
    return undefined;
  };

  return {
    match,
    validateRequest(method, path, query, body) {
      const found = match(method, path);
      if (!found) return [`${method} ${path}: no such operation in the contract`];
      const { template, operation } = found;
      const problems: string[] = [];
      const params = operation.parameters ?? [];
      for (const name of new Set(query.keys())) {
        const def = findQueryParam(params, name);
        if (!def) {
          problems.push(`${method} ${template}: query ${name} is not in the contract`);
          continue;
        }
        for (const value of query.getAll(name)) {
          const problem = checkQueryValue(name, value, def.schema);
          if (problem) problems.push(`${method} ${template}: ${problem}`);
        }
      }
      for (const def of params) {
        if (def.in === 'query' && def.required && !query.has(def.name)) {
          problems.push(`${method} ${template}: required query ${def.name} is missing`);
        }
      }
      const bodySchema = operation.requestBody?.content?.['application/json']?.schema;
      if (body === undefined) {
        if (operation.requestBody?.required) problems.push(`${method} ${template}: request body is required`);
      } else if (!bodySchema) {
        problems.push(`${method} ${template}: the contract declares no request body`);
      } else {
        const fn = validatorFor(`req ${method} ${template}`, bodySchema);
        problems.push(...schemaErrors(`${method} ${template} request body`, fn, body));
      }
      return problems;
    },
    validateResponse(method, path, status, body) {
      const found = match(method, path);
      if (!found) return [`${method} ${path}: no such operation in the contract`];
      const { template, operation } = found;
      const responses = operation.responses ?? {};
      const declared = responses[String(status)] ?? responses['default'];
      let schema: JsonObject | undefined;
      if (declared) {
        schema = declared.content?.['application/json']?.schema;
        if (!schema) {
          return body === undefined ? [] : [`${method} ${template} ${status}: the contract declares no response body`];
        }
      } else if (status >= 400) {
        // Fly answers undocumented errors (401, 404, 412, 429, 5xx) with its one error shape.
        schema = { $ref: '#/components/schemas/ErrorResponse' };
      } else {
        return [`${method} ${template}: status ${status} is not in the contract`];
      }
      const fn = validatorFor(`res ${method} ${template} ${declared ? status : 'error'}`, schema);
      if (body === undefined) return [`${method} ${template} ${status}: response body is missing`];
      return schemaErrors(`${method} ${template} ${status} response`, fn, body);
    },
  };
}
