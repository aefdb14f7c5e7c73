// `forge jobs [SVC]`, `forge jobs runs SVC/JOB`, `forge jobs trigger SVC/JOB`: a service's cron
// jobs with their next and last runs, one job's runs, and a run started now.

import { parseArgs, intFlag } from './args.ts';
import { withClient } from './client.ts';
import type { CliDeps } from './deps.ts';
import { table } from './format.ts';
import { HELP } from './help.ts';
import { EXIT, commandIO, toJsonText, usageFailure, type CliResult } from './output.ts';

export const JOBS_USAGE = HELP.jobs!.usage;

interface RunJson { id: string; job: string; scheduledAt: string; trigger: string; state: string; startedAt: string | null; endedAt: string | null; exitCode: number | null; reason: string | null; logs: { service: string; instance: string } | null }
interface JobJson { name: string; schedule: string; timezone: string; concurrency: string; missed: string; nextRunAt: string | null; lastRun: RunJson | null; lastSuccessAt: string | null }

const when = (iso: string | null): string => (iso === null ? '-' : iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z'));
const lastText = (run: RunJson | null): string => (run === null ? '-' : `${run.state}${run.exitCode === null ? '' : ` (exit ${run.exitCode})`} ${when(run.scheduledAt)}`);

/** `SVC/JOB` → its path segments, or the usage mistake. */
export function jobRef(command: string, text: string | undefined): { service: string; job: string } | string {
  const match = text === undefined ? null : /^([a-z0-9-]{1,63})\/([a-z0-9-]{1,63})$/.exec(text);
  if (!match) return `forge ${command}: give the job as SERVICE/JOB (e.g. web/nightly-report), got ${text === undefined ? 'nothing' : JSON.stringify(text)}`;
  return { service: match[1]!, job: match[2]! };
}

export async function jobsCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('jobs', args, { booleans: ['--json'], values: ['--limit'] });
  if (typeof parsed === 'string') return usageFailure(parsed, JOBS_USAGE);
  const json = parsed.booleans.has('--json');
  const io = commandIO(deps);
  const [first, second, extra] = parsed.positional;
  if (first === 'runs' || first === 'trigger') {
    if (extra !== undefined) return usageFailure(`forge jobs ${first}: unexpected argument \`${extra}\``, JOBS_USAGE);
    const ref = jobRef(`jobs ${first}`, second);
    if (typeof ref === 'string') return usageFailure(ref, JOBS_USAGE);
    const path = `/api/v1/jobs/${encodeURIComponent(ref.service)}/${encodeURIComponent(ref.job)}`;
    if (first === 'trigger') {
      const { run } = await withClient(deps, (client) => client.call<{ run: RunJson }>('POST', `${path}/trigger`));
      io.out(json ? toJsonText(run) : `${run.job}: started run ${run.id}; its output: forge logs ${ref.service} --instance ${run.logs?.instance ?? '?'}\n`);
      return io.finish(EXIT.ok);
    }
    const limit = intFlag('jobs runs', '--limit', parsed.values.get('--limit'));
    if (typeof limit === 'string') return usageFailure(limit, JOBS_USAGE);
    const { runs } = await withClient(deps, (client) => client.call<{ runs: RunJson[] }>('GET', `${path}/runs${limit === undefined ? '' : `?limit=${limit}`}`));
    if (json) io.out(toJsonText(runs));
    else if (runs.length === 0) io.out(`${ref.service}/${ref.job}: no runs yet\n`);
    else io.out(table([['SCHEDULED', 'TRIGGER', 'STATE', 'EXIT', 'STARTED', 'ENDED', 'RUN'],
      ...runs.map((r) => [when(r.scheduledAt), r.trigger, r.state, r.exitCode === null ? '-' : String(r.exitCode), when(r.startedAt), when(r.endedAt), r.id])]));
    return io.finish(EXIT.ok);
  }
  if (second !== undefined) return usageFailure(`forge jobs: unexpected argument \`${second}\``, JOBS_USAGE);
  const query = first === undefined ? '' : `?service=${encodeURIComponent(first)}`;
  const { jobs } = await withClient(deps, (client) => client.call<{ jobs: JobJson[] }>('GET', `/api/v1/jobs${query}`));
  if (json) io.out(toJsonText(jobs));
  else if (jobs.length === 0) io.out(first === undefined ? 'no jobs: add a `jobs:` section to a service spec\n' : `${first} has no jobs\n`);
  else io.out(table([['JOB', 'SCHEDULE', 'ZONE', 'NEXT', 'LAST', 'LAST SUCCESS'],
    ...jobs.map((j) => [j.name, j.schedule, j.timezone, when(j.nextRunAt), lastText(j.lastRun), when(j.lastSuccessAt)])]));
  return io.finish(EXIT.ok);
}
