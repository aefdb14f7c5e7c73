// The runtimes a spec's `runtime` may name, and what an agent must have to run one.
// Pure: the spec schema's enum lists the same names (a test keeps them equal), agents
// find the binaries named here at start (agent/runtimes.ts), and the scheduler places
// a service only on an agent that reported a matching one.

/** One runtime an agent found: `node` 20.11.1 at /usr/bin/node. */
export interface AgentRuntime {
  /** Family: `node`, `python`, `bun`, `deno`, `go`, `ruby`. */
  name: string;
  /** Version as the binary printed it, e.g. `20.11.1`, `3.11.7`. */
  version: string;
  /** Absolute path of the binary; its directory goes first on a build's PATH. */
  path: string;
}

interface Family {
  name: string;
  /** Binaries to look for on PATH, in order. */
  binaries: readonly string[];
  /** Arguments that make the binary print its version. */
  versionArgs: readonly string[];
  /** Versions a spec may pin (`node20`, `python3.11`); the bare family name means any. */
  pins: readonly string[];
}

const PYTHON_MINORS = ['8', '9', '10', '11', '12', '13'];

export const RUNTIME_FAMILIES: readonly Family[] = [
  { name: 'node', binaries: ['node'], versionArgs: ['--version'], pins: ['18', '20', '22', '24'] },
  {
    name: 'python', binaries: ['python3', ...PYTHON_MINORS.map((m) => `python3.${m}`)], versionArgs: ['--version'],
    pins: ['3', ...PYTHON_MINORS.map((m) => `3.${m}`)],
  },
  { name: 'bun', binaries: ['bun'], versionArgs: ['--version'], pins: [] },
  { name: 'deno', binaries: ['deno'], versionArgs: ['--version'], pins: [] },
  { name: 'go', binaries: ['go'], versionArgs: ['version'], pins: [] },
  { name: 'ruby', binaries: ['ruby'], versionArgs: ['--version'], pins: [] },
];

/** Every value `runtime` accepts, in the order the schema lists them. */
export const KNOWN_RUNTIMES: readonly string[] = RUNTIME_FAMILIES.flatMap((f) => (f.name === 'python'
  ? f.pins.map((p) => `python${p}`)
  : [f.name, ...f.pins.map((p) => `${f.name}${p}`)]));

/** `node20` → node, versions 20.*; `python3.11` → python 3.11.*; `go` → any go. */
export function parseRuntime(runtime: string): { family: string; version?: string } | undefined {
  if (!KNOWN_RUNTIMES.includes(runtime)) return undefined;
  const match = /^([a-z]+)(\d+(?:\.\d+)?)?$/.exec(runtime);
  if (!match) return undefined;
  return match[2] === undefined ? { family: match[1]! } : { family: match[1]!, version: match[2] };
}

/** The first of an agent's runtimes that satisfies `runtime`, or undefined. */
export function findRuntime(runtime: string, available: readonly AgentRuntime[]): AgentRuntime | undefined {
  const wanted = parseRuntime(runtime);
  if (!wanted) return undefined;
  return available.find((r) => r.name === wanted.family
    && (wanted.version === undefined || r.version === wanted.version || r.version.startsWith(`${wanted.version}.`)));
}

/** `Python 3.11.7`, `v20.11.1`, `go version go1.22.1 linux/amd64` → the first dotted version. */
export function versionFrom(output: string): string | undefined {
  return /(\d+\.\d+(?:\.\d+)?)/.exec(output)?.[1];
}

/** `node 20.11.1, python 3.11.7` (each family and version once). */
export function describeRuntimes(runtimes: readonly AgentRuntime[]): string {
  // Languages only: `oci-image` and `dockerfile` are what an agent can run, said apart (agentFeatureNeeded).
  const languages = runtimes.filter((r) => RUNTIME_FAMILIES.some((f) => f.name === r.name));
  return [...new Set(languages.map((r) => `${r.name} ${r.version}`))].sort().join(', ');
}

/**
 * Not languages but what an agent can run besides source services, reported in the same
 * list (agents.runtimes): `oci-image` when it has skopeo, umoci and crun (image specs),
 * `dockerfile` when it also has buildah (`build.dockerfile` specs). The scheduler sends a
 * spec only to an agent that reported what it needs.
 */
export const IMAGE_RUNTIME = 'oci-image';
export const DOCKERFILE_RUNTIME = 'dockerfile';

/** What an agent must have reported to run `spec` beyond its language runtime; undefined: nothing. */
export function agentFeatureNeeded(spec: { image?: string; build?: { dockerfile?: string }; run?: unknown }): string | undefined {
  if (spec.image !== undefined) return IMAGE_RUNTIME;
  if (spec.build?.dockerfile !== undefined && spec.run === undefined) return DOCKERFILE_RUNTIME;
  return undefined;
}
