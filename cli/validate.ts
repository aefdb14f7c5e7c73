// `forge validate [--json] PATH…`: check spec files and folders without touching
// anything. Exit 0 when every spec is valid, 1 when any is not, 2 on usage errors.

import { findSpecFiles, formatProblem, loadSpecFiles, specInvalidError } from '../specs/index.ts';
import { parseArgs } from './args.ts';
import type { CliDeps } from './deps.ts';
import { HELP } from './help.ts';
import { EXIT, plural, success, toJsonText, usageFailure, type CliResult } from './output.ts';

export const VALIDATE_USAGE = HELP.validate!.usage;

export async function validateCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const flags = parseArgs('validate', args, { booleans: ['--json'] });
  if (typeof flags === 'string') return usageFailure(flags, VALIDATE_USAGE);
  const parsed = { json: flags.booleans.has('--json'), paths: flags.positional };
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
