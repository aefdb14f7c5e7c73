// `forge apply -f PATH…` and `forge diff -f PATH…`. Specs are loaded and checked
// here first (positioned errors, nothing sent), then sent as one apply set owned by
// `--source` (default `file:<first path>`). diff is a dry run whose exit code says
// whether anything would change, like diff(1).

import { resolve } from 'node:path';
import { rawFromSpec } from '../api/service-spec.ts';
import type { ApplyPlan } from '../api/service-apply-set.ts';
import { toForgeError } from '../errors/index.ts';
import { findSpecFiles, formatProblem, loadSpecFiles, type LoadedSpec } from '../specs/index.ts';
import { parseArgs } from './args.ts';
import { withClient, withProviderHint } from './client.ts';
import { uploadBundles } from './bundle-upload.ts';
import type { CliDeps } from './deps.ts';
import { planText } from './format.ts';
import { HELP } from './help.ts';
import { EXIT, commandIO, success, toJsonText, usageFailure, type CliResult } from './output.ts';
import { timeoutMs, waitAndReport, waitThenFinish } from './wait.ts';

export const APPLY_USAGE = HELP.apply!.usage;
export const DIFF_USAGE = HELP.diff!.usage;

interface SpecSet {
  specs: LoadedSpec[];
  source: string;
}

/** Loads the -f paths. A string is a usage mistake; `problems` are spec errors, already formatted. */
async function loadSet(command: string, paths: readonly string[], source: string | undefined, deps: CliDeps): Promise<SpecSet | { usage: string } | { problems: string }> {
  if (paths.length === 0) return { usage: `forge ${command}: no spec given (use -f PATH)` };
  const found = await findSpecFiles(paths, { cwd: deps.cwd });
  if (found.missing.length > 0) return { usage: found.missing.map((p) => `forge ${command}: no such file or directory: ${p}`).join('\n') };
  const loaded = await loadSpecFiles(found.files, { cwd: deps.cwd }, found.problems);
  if (!loaded.ok) return { problems: loaded.problems.map((p) => `${formatProblem(p)}\n`).join('') };
  return { specs: loaded.specs, source: source ?? `file:${resolve(deps.cwd, paths[0]!)}` };
}

async function postApply(deps: CliDeps, set: SpecSet, options: { prune: boolean; dryRun: boolean; progress?: (text: string) => void }): Promise<ApplyPlan> {
  return withClient(deps, async (client) => {
    try {
      // Source folders ship as bundles first; their digests make an edited folder a new release.
      const bundles = await uploadBundles(set.specs.map(({ spec }) => spec), deps, { progress: options.progress ?? (() => undefined) });
      return await client.call<ApplyPlan>('POST', '/api/v1/apply', {
        source: set.source, specs: set.specs.map(({ spec }) => rawFromSpec(spec)), prune: options.prune, dryRun: options.dryRun,
        ...(Object.keys(bundles).length > 0 ? { bundles } : {}),
      });
    } catch (error) {
      throw withProviderHint(error, set.specs.map(({ spec }) => spec.provider));
    }
  });
}

const SPEC_FLAGS = { repeated: ['--file'], aliases: { '-f': '--file' } } as const;

export async function applyCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('apply', args, { ...SPEC_FLAGS, booleans: ['--prune', '--dry-run', '--no-wait', '--json'], values: ['--source', '--timeout'] });
  if (typeof parsed === 'string') return usageFailure(parsed, APPLY_USAGE);
  if (parsed.positional.length > 0) return usageFailure(`forge apply: unexpected argument \`${parsed.positional[0]}\` (spec paths go after -f)`, APPLY_USAGE);
  const timeout = timeoutMs(parsed.values.get('--timeout'));
  if (timeout === undefined) return usageFailure(`forge apply: --timeout must be a duration such as 90s or 5m, got ${JSON.stringify(parsed.values.get('--timeout'))}`, APPLY_USAGE);
  const set = await loadSet('apply', parsed.repeated.get('--file') ?? [], parsed.values.get('--source'), deps);
  if ('usage' in set) return usageFailure(set.usage, APPLY_USAGE);
  if ('problems' in set) return { exitCode: EXIT.failed, stdout: '', stderr: set.problems };

  const json = parsed.booleans.has('--json');
  const dryRun = parsed.booleans.has('--dry-run');
  const io = commandIO(deps);
  const plan = await postApply(deps, set, { prune: parsed.booleans.has('--prune'), dryRun, progress: (text) => io.err(text) });
  io.out(json ? toJsonText(plan) : planText(plan, { verbose: false }));
  if (dryRun || parsed.booleans.has('--no-wait')) return io.finish(EXIT.ok);
  // Every service of the set, changed or not: CI needs a non-zero exit whenever the set does
  // not end running, also when an unchanged service is failed. Deleted ones must be gone.
  const targets = plan.entries.map((e) => ({ name: e.name, expect: e.op === 'delete' ? 'gone' as const : 'settled' as const }));
  return waitThenFinish('apply', io, () => withClient(deps, (client) => waitAndReport(client, targets, deps, io, { timeoutMs: timeout, json })));
}

export async function diffCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('diff', args, { ...SPEC_FLAGS, booleans: ['--prune', '--json'], values: ['--source'] });
  if (typeof parsed === 'string') return usageFailure(parsed, DIFF_USAGE);
  if (parsed.positional.length > 0) return usageFailure(`forge diff: unexpected argument \`${parsed.positional[0]}\` (spec paths go after -f)`, DIFF_USAGE);
  const set = await loadSet('diff', parsed.repeated.get('--file') ?? [], parsed.values.get('--source'), deps);
  if ('usage' in set) return usageFailure(set.usage, DIFF_USAGE);
  if ('problems' in set) return { exitCode: EXIT.usage, stdout: '', stderr: set.problems };
  const io = commandIO(deps);
  let plan: ApplyPlan;
  try {
    plan = await postApply(deps, set, { prune: parsed.booleans.has('--prune'), dryRun: true });
  } catch (error) {
    // Errors are exit 2 here: 1 means "there are differences".
    return io.fail('diff', toForgeError(error), EXIT.usage);
  }
  io.out(parsed.booleans.has('--json') ? toJsonText(plan) : planText(plan, { verbose: false }));
  return io.finish(plan.changed.length > 0 ? EXIT.failed : EXIT.ok);
}
