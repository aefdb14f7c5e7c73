// Validates agent protocol bodies against schemas/agent-*.schema.json, compiled
// once per process. A bad body is E_BAD_REQUEST with the paths that failed.

import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { ForgeError } from '../../errors/index.ts';
import type {
  ClaimRequest, HeartbeatRequest, LogsRequest, ProgressRequest, RegisterRequest, ResultRequest,
} from '../../schemas/agent-protocol.ts';

const SHARED = ['agent-resources', 'agent-instance'] as const;
const BODIES = ['agent-register', 'agent-heartbeat', 'agent-claim', 'agent-progress', 'agent-result', 'agent-logs'] as const;
export type BodyName = (typeof BODIES)[number];

function load(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../../schemas/${name}.schema.json`, import.meta.url), 'utf8')) as Record<string, unknown>;
}

function compile(): Record<BodyName, ValidateFunction> {
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  for (const name of SHARED) ajv.addSchema(load(name));
  const out = {} as Record<BodyName, ValidateFunction>;
  for (const name of BODIES) out[name] = ajv.compile(load(name));
  return out;
}

let validators: Record<BodyName, ValidateFunction> | undefined;

interface BodyTypes {
  'agent-register': RegisterRequest;
  'agent-heartbeat': HeartbeatRequest;
  'agent-claim': ClaimRequest;
  'agent-progress': ProgressRequest;
  'agent-result': ResultRequest;
  'agent-logs': LogsRequest;
}

/** The body, typed, or E_BAD_REQUEST naming every path that does not fit the schema. */
export function parseBody<N extends BodyName>(name: N, body: unknown): BodyTypes[N] {
  validators ??= compile();
  const validate = validators[name];
  const value = body ?? {};
  if (validate(value)) return value as BodyTypes[N];
  const problems = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
  throw new ForgeError('E_BAD_REQUEST', `invalid ${name.replace('agent-', '')} body: ${problems.join('; ')}`, {
    details: { problems },
  });
}
