import { fileURLToPath } from 'node:url';
import { formatProblem, parseSpecText, type LoadedSpec } from '../../specs/index.ts';

export const BASE_DIR = '/srv/app';

/** The original forge.yaml, which must validate unchanged. */
export const ORIGINAL_FORGE_YAML = `name: myapp
runtime: python3.11
build:
  commands:
    - python3 -m venv .venv
    - . .venv/bin/activate && python -m pip install -r requirements.txt
run:
  command: . .venv/bin/activate && uvicorn app:main --host 0.0.0.0 --port $PORT
  port: 8000
resources:
  memory: 256M
  cpu: 0.5
health:
  path: /health
  interval: 10s
  timeout: 3s
  retries: 3
`;

/** Problems as the CLI prints them, or the specs when valid. */
export function problemsOf(text: string, file = 'svc.yaml'): string[] {
  const result = parseSpecText(text, file, { baseDir: BASE_DIR });
  return result.ok ? [] : result.problems.map(formatProblem);
}

export function specsOf(text: string, file = 'svc.yaml'): LoadedSpec[] {
  const result = parseSpecText(text, file, { baseDir: BASE_DIR });
  if (!result.ok) throw new Error(`expected a valid spec, got:\n${result.problems.map(formatProblem).join('\n')}`);
  return result.specs;
}

/** The repository root, so tests do not depend on the directory they are started from. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
