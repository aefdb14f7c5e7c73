// The deploy dialog's source mode → the body of POST /api/v1/apply: one spec with
// build commands and a run command, plus the digest of the bundle uploaded just
// before (it becomes the release's revision). Pure, so tested in Node as a table.
// Also the runtimes the form offers: only those an online agent advertised
// (GET /api/v1/agents → runtimes), as the spec's `runtime` values.

import { parseEnvLines } from './deploy-form.js';

/** The versions a spec may pin per family (specs/runtimes.ts); other families are named bare. */
const PINS = { node: ['18', '20', '22', '24'], python: ['3.8', '3.9', '3.10', '3.11', '3.12', '3.13'] };

/** `node 20.11.1` → `node20`, `python 3.11.7` → `python3.11`, `go 1.22.1` → `go`; null when unknown. */
export function runtimeValue(advertised) {
  const match = /^([a-z]+) (\d+)\.(\d+)/.exec(advertised);
  if (!match) return /^[a-z]+$/.test(advertised.split(' ')[0] ?? '') ? advertised.split(' ')[0] : null;
  const [, family, major, minor] = match;
  if (family === 'node') return PINS.node.includes(major) ? `node${major}` : 'node';
  if (family === 'python') return PINS.python.includes(`${major}.${minor}`) ? `python${major}.${minor}` : 'python3';
  return family;
}

/**
 * The runtime choices: "any" first (the agent's own PATH), then each runtime an online,
 * unrevoked agent advertised, with how many agents offer it. `online` counts those agents.
 * @param {{ online: boolean, revokedAt: string | null, runtimes: string[] }[]} agents
 */
export function runtimeChoices(agents) {
  const live = agents.filter((a) => a.online && a.revokedAt === null);
  const count = new Map();
  for (const agent of live) {
    for (const value of new Set(agent.runtimes.map(runtimeValue).filter((v) => v !== null))) count.set(value, (count.get(value) ?? 0) + 1);
  }
  const offered = [...count.keys()].sort().map((value) => ({ value, label: `${value} (${count.get(value)} agent${count.get(value) === 1 ? '' : 's'})` }));
  return { online: live.length, choices: [{ value: '', label: 'any (what the agent has on its PATH)' }, ...offered] };
}

/** Build commands: one per line, blank lines and `#` comments skipped. */
export function commandLines(text) {
  return (text ?? '').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/**
 * @typedef {{ name?: string, build?: string, run?: string, port?: string, memory?: string,
 *   runtime?: string, provider?: string, plainEnv?: string }} SourceFields
 * @param {SourceFields} fields the dialog's values, as text
 * @returns {{ spec: Record<string, unknown> | null, errors: { field: string, message: string }[] }}
 */
export function sourceSpec(fields) {
  const errors = [];
  const text = (value) => (value ?? '').trim();
  const name = text(fields.name);
  if (name === '') errors.push({ field: 'name', message: 'a name is required' });
  const run = text(fields.run);
  if (run === '') errors.push({ field: 'run', message: 'a run command is required (for example node server.js); it must listen on $PORT' });
  // The bundle's files are the source; the path is only the spec's label for them (a
  // spec given as an object needs an absolute one), never read by anyone.
  const spec = { name, source: `/bundles/${name}`, run: { command: run } };
  const build = commandLines(fields.build);
  if (build.length > 0) spec.build = { commands: build };
  const port = text(fields.port);
  if (port !== '') {
    if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) errors.push({ field: 'port', message: 'the port is a number from 1 to 65535' });
    else spec.port = Number(port);
  }
  const memory = text(fields.memory);
  if (memory !== '') spec.memory = /^\d+$/.test(memory) ? Number(memory) : memory;
  for (const field of ['runtime', 'provider']) {
    const value = text(fields[field]);
    if (value !== '') spec[field] = value;
  }
  // Plain variables, kept in the spec as a forge.yaml's `env` is; secret values go through `forge secrets set`.
  if (text(fields.plainEnv) !== '') {
    const parsed = parseEnvLines(fields.plainEnv ?? '');
    for (const message of parsed.errors) errors.push({ field: 'plainEnv', message });
    if (parsed.errors.length === 0) spec.env = parsed.env;
  }
  return errors.length > 0 ? { spec: null, errors } : { spec, errors };
}

/** The apply body: the dashboard's writes are owned by `api`, like its image deploys (so either form updates the other's services). */
export function applyBody(spec, digest) {
  return { source: 'api', specs: [spec], bundles: { [spec.name]: digest } };
}
