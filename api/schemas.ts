// JSON Schemas of the API's request bodies and query strings (fastify validates
// them with ajv before a handler runs). Types only: ranges and cross-field rules
// are the service spec's, applied by specs/ after merging, so they are stated once.

import { computeBodyFields } from './compat.ts';

const ENV_NAME = '^[A-Z_][A-Z0-9_]*$';
const MAX_VALUE = 65_536;

const envValues = {
  type: 'object',
  description: 'Secret environment variables: name → value. Values are encrypted at rest and never returned.',
  propertyNames: { pattern: ENV_NAME, maxLength: 256 },
  additionalProperties: { type: 'string', maxLength: MAX_VALUE },
  maxProperties: 500,
} as const;

const serviceFields = {
  name: { type: 'string', description: 'Service name (a DNS label).', minLength: 1, maxLength: 63 },
  image: { type: 'string', description: 'Container image reference (image mode).', minLength: 1, maxLength: 1024 },
  port: { type: 'integer', description: 'Port the app listens on.' },
  cpu: { type: 'string', description: 'CPU tier such as shared-1x.', maxLength: 32 },
  memory: { type: ['integer', 'string'], description: 'Memory in MB (or a size such as 512M).' },
  region: { type: 'string', description: 'Region code.', maxLength: 63 },
  replicas: { type: 'integer', description: 'Instance count.' },
  provider: { enum: ['agent', 'fly', 'cloud'], description: 'Where the service runs.' },
  source: {
    type: 'string', minLength: 1, maxLength: 256,
    description: 'Who owns the service, e.g. `forge:<control-plane id>` for a Forge in cloud mode. Kept from create on; a write naming another owner than the service has is refused (409 E_CONFLICT).',
  },
  envVars: envValues,
  envVarsPatch: {
    type: 'object',
    description: 'Merge into the existing env vars: `set` adds or replaces, `unset` removes names.',
    additionalProperties: false,
    properties: {
      set: envValues,
      unset: { type: 'array', items: { type: 'string', pattern: ENV_NAME, maxLength: 256 }, maxItems: 500 },
    },
  },
  ...computeBodyFields,
} as const;

export const createServiceBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: serviceFields,
} as const;

const { name: _name, ...patchFields } = serviceFields;
export const patchServiceBody = {
  type: 'object',
  additionalProperties: false,
  properties: patchFields,
} as const;

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 80 } },
} as const;

export const eventsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 1000 },
    after: { type: 'integer', minimum: 0 },
  },
} as const;

export const logsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { follow: { type: 'boolean' } },
} as const;

export const deployTokenBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { ttlSeconds: { type: 'integer', minimum: 60, maximum: 3600 } },
} as const;

export const applyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['specs'],
  properties: {
    source: { type: 'string', minLength: 1, maxLength: 256, description: 'Owner of the applied set, e.g. `file:prod` or `ci:web`.' },
    specs: {
      type: 'array',
      maxItems: 1000,
      description: 'Spec objects, or `{ file, text }` holding YAML text.',
      items: { type: 'object' },
    },
    prune: { type: 'boolean' },
    dryRun: { type: 'boolean' },
  },
} as const;

export const deploymentsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: { type: 'integer', minimum: 1, maximum: 500 } },
} as const;
