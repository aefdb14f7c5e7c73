// `forge validate [--json] PATH…`: check spec files and folders without touching
// anything. Exit 0 when every spec is valid, 1 when any is not, 2 on usage errors.

import { findSpecFiles, formatProblem, loadSpecFiles, specInvalidError } from '../specs/index.ts';
import type { CliDeps } from './deps.ts';
import { EXIT, plural, success, toJsonText, usageFailure, type CliResult } from './output.ts';

export const VALIDATE_USAGE = 'usage: forge validate [--json] PATH…';

interface ValidateArgs {
  json: boolean;
  help: boolean;
  paths: string[];
}

function parseArgs(args: readonly string[]): ValidateArgs | string {
  const parsed: ValidateArgs = { json: false, help: false, paths: [] };
  let flagsDone = false;
  for (const arg of args) {
    if (flagsDone || !arg.startsWith('-') || arg === '-') parsed.paths.push(arg);
    else if (arg === '--') flagsDone = true;
    else if (arg === '--json') parsed.json = true;
    else if (arg === '--help' || arg === '-h') parsed.help = true;
    else return `forge validate: unknown flag \`${arg}\``;
  }
  return parsed;
}

export async function validateCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs(args);
  if (typeof parsed === 'string') return usageFailure(parsed, VALIDATE_USAGE);
  if (parsed.help) return success(`${VALIDATE_USAGE}\n\nChecks service spec files (folders are searched for *.yaml and *.yml).\n  --json  print the normalized specs (or the problems) as JSON\n`);
  if (parsed.paths.length === 0) return usageFailure('forge validate: no PATH given', VALIDATE_USAGE);

  const found = await findSpecFiles(parsed.paths, { cwd: deps.cwd });
  if (found.missing.length > 0) {
    return usageFailure(found.missing.map((path) => `forge validate: no such file or directory: ${path}`).join('\n'), VALIDATE_USAGE);
  }
  const result = await loadSpecFiles(found.files, { cwd: deps.cwd }, found.problems);

  if (!result.ok) {
    if (parsed.json) {
      const error = specInvalidError(result.problems);
      return { exitCode: EXIT.failed, stdout: toJsonText({ error: error.code, message: error.message, details: result.problems }), stderr: '' };
    }
    return { exitCode: EXIT.failed, stdout: '', stderr: result.problems.map((p) => `${formatProblem(p)}\n`).join('') };
  }
  if (parsed.json) return success(toJsonText(result.specs.map(({ file, hash, spec }) => ({ file, hash, spec }))));
  return success(`ok  ${plural(result.specs.length, 'service')}\n`);
}
