// Renders the spec reference (docs/spec.md) from the schema's descriptions: the
// schema is the one source, and a test fails when the committed page is stale.

import { SERVICE_SCHEMA } from './schema.ts';
import { JOBS_SECTION } from './reference-jobs.ts';

interface SchemaNode {
  description?: string;
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: boolean | SchemaNode;
  oneOf?: SchemaNode[];
  anyOf?: SchemaNode[];
  required?: string[];
}

export function renderSpecReference(): string {
  const root = SERVICE_SCHEMA as unknown as SchemaNode & { title?: string };
  const lines = [
    '# Service spec reference',
    '',
    '<!-- Generated from schemas/service.schema.json by `npx tsx scripts/gen-spec-docs.ts`; do not edit by hand. -->',
    '',
    root.description ?? '',
    '',
    'Unknown keys are errors. Problems are reported as `file:line:col path: message`, all of them in one run.',
    '',
    '| key | type | required | description |',
    '| --- | --- | --- | --- |',
  ];
  walk(root, '', new Set(root.required ?? []), lines);
  lines.push('', ...SECRETS_SECTION);
  lines.push('', ...JOBS_SECTION);
  return `${lines.join('\n')}\n`;
}

/** Rules the schema cannot say field by field: how secret names and values behave over time. */
const SECRETS_SECTION = [
  '## Secrets',
  '',
  'A spec lists secret *names* in `secrets`; their *values* are set with `forge secrets set NAME KEY=VALUE` (or `--env-set`, or the API\'s `envVars`/`envVarsPatch`) and live only in the encrypted store. No value ever appears in a spec, a plan, an event, a log line or an API answer.',
  '',
  '- **Who owns a variable.** A spec file owns the secret names it lists. A value set through the API owns its name until `forge secrets unset` removes it: a later `forge apply` of a file that does not list that name keeps it, and its plan says so (`secret VERSION: set through the API, kept …`). So an apply never drops a stored value.',
  '- **What a plan says it removes.** `forge diff` and `forge apply` name every secret an apply takes away: a name the file stopped listing (`removes secret DB_URL from the environment (no value was stored)`), and, for a service deleted by `--prune`, each stored value deleted with it (`deletes the stored value of secret TOKEN`). Names only, never values.',
  '- **Changing a value redeploys.** Setting or rotating a value replaces the running instances with new ones that have the new value, health-gated like any release (the old instance serves until the new one is healthy); on Fly the machine is updated and restarts. `forge get` reports the service converged only once every instance runs the current values.',
].join('\n').split('\n');

function walk(node: SchemaNode, prefix: string, required: ReadonlySet<string>, lines: string[]): void {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    lines.push(`| \`${path}\` | ${typeOf(child)} | ${required.has(key) ? 'yes' : ''} | ${escape(child.description ?? '')}${constraints(child)} |`);
    if (child.properties) walk(child, path, new Set(child.required ?? []), lines);
    if (child.items?.properties) walk(child.items, `${path}[]`, new Set(child.items.required ?? []), lines);
    if (child.additionalProperties && typeof child.additionalProperties === 'object' && child.additionalProperties.description) {
      lines.push(`| \`${path}.<KEY>\` | ${typeOf(child.additionalProperties)} |  | ${escape(child.additionalProperties.description)} |`);
      const each = child.additionalProperties;
      if (each.properties) walk(each, `${path}.<KEY>`, new Set(each.required ?? []), lines);
    }
  }
}

function typeOf(node: SchemaNode): string {
  if (node.enum) return node.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  const variants = node.oneOf ?? node.anyOf;
  if (variants) return [...new Set(variants.map(typeOf))].join(' \\| ');
  const type = Array.isArray(node.type) ? node.type.join(' \\| ') : node.type ?? 'any';
  return node.items ? `${type} of ${typeOf(node.items)}` : type;
}

function constraints(node: SchemaNode): string {
  const parts: string[] = [];
  if (node.minimum !== undefined) parts.push(`min ${node.minimum}`);
  if (node.maximum !== undefined) parts.push(`max ${node.maximum}`);
  if (node.default !== undefined) parts.push(`default \`${JSON.stringify(node.default)}\``);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

function escape(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
