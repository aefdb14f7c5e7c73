// `forge init [DIR]`: writes a commented forge.yaml for the folder's stack
// (Node, Python, Go, a Dockerfile, or plain static files), which `forge
// validate` accepts as written. Detection is by the files a stack always has;
// the comments say what to change. Never overwrites without --force.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from './args.ts';
import type { CliDeps } from './deps.ts';
import { HELP } from './help.ts';
import { EXIT, success, usageFailure, type CliResult } from './output.ts';

export interface Stack {
  kind: 'node' | 'python' | 'go' | 'dockerfile' | 'static' | 'unknown';
  runtime?: string;
  build: string[];
  run: string;
  port: number;
  note: string;
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** What runs in `dir`, from the files it holds. Pure apart from reading them. */
export function detectStack(dir: string): Stack {
  const has = (name: string) => existsSync(join(dir, name));
  if (has('package.json')) {
    const pkg = readJson(join(dir, 'package.json')) ?? {};
    const scripts = (pkg.scripts ?? {}) as Record<string, unknown>;
    const install = has('package-lock.json') ? 'npm ci' : 'npm install';
    const build = [install, ...(typeof scripts.build === 'string' ? ['npm run build'] : [])];
    const main = typeof pkg.main === 'string' ? pkg.main : 'server.js';
    return { kind: 'node', runtime: 'node20', build, run: typeof scripts.start === 'string' ? 'npm start' : `node ${main}`, port: 3000, note: 'a Node.js app (package.json)' };
  }
  if (has('requirements.txt') || has('pyproject.toml')) {
    const build = has('requirements.txt') ? ['python3 -m pip install --target .deps -r requirements.txt'] : ['python3 -m pip install --target .deps .'];
    const entry = ['app.py', 'main.py', 'server.py'].find(has) ?? 'app.py';
    return { kind: 'python', runtime: 'python3.11', build, run: `PYTHONPATH=.deps python3 ${entry}`, port: 8000, note: 'a Python app (requirements.txt or pyproject.toml)' };
  }
  if (has('go.mod')) return { kind: 'go', runtime: 'go', build: ['go build -o app .'], run: './app', port: 8080, note: 'a Go module (go.mod)' };
  if (has('Dockerfile')) return { kind: 'dockerfile', build: [], run: '', port: 8080, note: 'a Dockerfile (built on Fly)' };
  if (has('index.html')) return { kind: 'static', runtime: 'python3.11', build: [], run: 'python3 -m http.server $PORT', port: 8080, note: 'static files (index.html)' };
  return { kind: 'unknown', build: ['echo "replace with your build step"'], run: 'echo "replace with your start command" && sleep infinity', port: 8080, note: 'no known stack' };
}

/** A DNS label from a folder name: what a service name must be. */
export function serviceName(dir: string): string {
  const name = basename(resolve(dir)).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  return /^[a-z]/.test(name) ? name : `app-${name}`.replace(/-+$/, '');
}

export function specText(name: string, stack: Stack): string {
  const head = `# forge.yaml for ${name}: ${stack.note}, detected by forge init.\n# Reference: docs/spec.md. Check it with \`forge validate forge.yaml\`, ship it with \`forge apply -f forge.yaml\`.\nname: ${name}\n`;
  if (stack.kind === 'dockerfile') {
    return `${head}# The Dockerfile in this folder is built on Fly's remote builder (forge deploy . --name ${name}),\n# or give a built image here instead:\nprovider: fly\nregion: iad\nimage: registry.example.com/${name}:latest\nport: ${stack.port}\nmemory: 256M\n`;
  }
  const build = stack.build.length > 0
    ? `# Run in this folder on an agent before every release; a failing command fails the release.\nbuild:\n  commands:\n${stack.build.map((c) => `    - ${JSON.stringify(c)}`).join('\n')}\n`
    : '';
  return `${head}${stack.runtime ? `runtime: ${stack.runtime}\n` : ''}${build}# Started with $PORT set: the app must listen on it.\nrun:\n  command: ${JSON.stringify(stack.run)}\nport: ${stack.port}\n# Limits the sandbox enforces.\nmemory: 256M\nresources:\n  cpu: 0.5\n# Traffic moves to a new release only once this path answers 2xx.\nhealth:\n  path: /\n  interval: 5s\n  timeout: 2s\n  retries: 3\n# Plain settings; secrets go in with \`forge secrets set ${name} KEY=-\` (stdin) and are listed here by name.\n# env:\n#   LOG_LEVEL: info\n# secrets: [DATABASE_URL]\n`;
}

export async function initCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const usage = HELP.init!.usage;
  const parsed = parseArgs('init', args, { booleans: ['--force'], values: ['--name'] });
  if (typeof parsed === 'string') return usageFailure(parsed, usage);
  if (parsed.positional.length > 1) return usageFailure(`forge init: unexpected argument \`${parsed.positional[1]}\` (give at most one DIR)`, usage);
  const dir = resolve(deps.cwd, parsed.positional[0] ?? '.');
  if (!existsSync(dir)) return usageFailure(`forge init: no such directory: ${parsed.positional[0]}`, usage);
  const name = parsed.values.get('--name') ?? serviceName(dir);
  if (!/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name)) return usageFailure(`forge init: --name must be a DNS label (a-z, 0-9 and -), got ${JSON.stringify(name)}`, usage);
  const file = join(dir, 'forge.yaml');
  if (existsSync(file) && !parsed.booleans.has('--force')) {
    return { exitCode: EXIT.failed, stdout: '', stderr: `forge init: ${file} exists; nothing written (--force replaces it)\n` };
  }
  const stack = detectStack(dir);
  writeFileSync(file, specText(name, stack));
  return success(`wrote ${file} for ${stack.note}; check it with forge validate, then forge apply -f ${parsed.positional[0] ?? '.'}\n`);
}
