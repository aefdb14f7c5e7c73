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
  lines.push('', ...SECRETS_SECTION, '', ...RELEASE_SECTION);
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

/** The release phase's rules, the exactly-once one above all (reconciler/release-phase.ts). */
const RELEASE_SECTION = [
  '## Release commands (`release`)',
  '',
  '`release.command` runs once per new release, before any instance of it starts, so no request ever reaches a release whose command did not succeed. It runs for every generation that starts instances of its own: a new image or source revision, a changed spec (a scale-up included), `forge restart`; a change that starts none (a scale-down, a stop) runs nothing.',
  '',
  '- **Where it runs.** Agents: the release\'s build output (its bundle and `build.commands`) in a fresh sandbox like the app\'s (its own identity, root, cgroup limits and network namespace, with outbound access), with `env`, the secret values and `PORT`; the sandbox, its cgroup and its work dir are removed when it ends. Fly: a one-shot machine of the release\'s image in the service\'s app (`init.cmd` = the command, `restart: no`, `auto_destroy`, no services), as Fly\'s own `release_command` does; its output is in the app\'s Fly logs.',
  '- **Success and failure.** Exit 0: the rollout proceeds. Any other exit, or the timeout (`release.timeout`, default 5m): the release is marked failed with the exit code and the last output lines (events, `forge get`, `forge releases`), nothing of it starts, and the previous release keeps serving. Its output is kept in the log store (`forge logs NAME --instance release-…`). Retry with `forge restart NAME` (a new release) once the cause is fixed.',
  '- **Exactly once.** Before the command is started, Forge records it as *started* for that release (service and generation). A release whose command is recorded as started but has no recorded result — the control plane or the agent was killed while it ran — **may have run**: Forge reports it (the release fails with "the release command may have run", the previous release keeps serving) and never starts it a second time on its own. A run the provider certainly never started (no agent took it) is taken back and retried. An agent never hands out a release command task twice: one whose first holder stopped reporting is reported the same way. Check what the command did, then `forge restart NAME` to run it for a new release.',
  '- **Providers.** The decision is by capability: a provider that cannot run one-offs refuses a spec with `release` (`E_SPEC_INVALID`) rather than rolling it out without its command.',
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
