// Effects of the release phase (release-phase.ts decides): record the run as started,
// then run the command through the provider, then record its result. Recording first is
// what makes it exactly-once: a crash between the two leaves a 'started' row, which the
// next pass reports as "may have run" instead of starting the command again.

import type { Provider } from '../providers/types.ts';
import type { Store } from '../store/index.ts';
import type { DesiredRow } from '../store/types.ts';
import { releaseCommandOutcome, type ReleaseCommandStep } from './release-phase.ts';

export interface ReleaseRunDeps {
  store: Store;
  provider: Provider;
  row: DesiredRow;
  step: ReleaseCommandStep;
  secretsFor(name: string): Record<string, string>;
}

/**
 * Throws only when the command certainly did not start (the provider's contract for
 * runOneOff); the started row is then taken back so a retry may start it.
 */
export async function runReleaseCommand(deps: ReleaseRunDeps): Promise<void> {
  const { store, provider, row, step } = deps;
  const runner = provider.runOneOff?.bind(provider);
  if (!runner) return; // plan() asks only providers with capabilities.oneOffs
  const secrets = deps.secretsFor(row.name); // before the row: a missing key starts nothing
  if (!store.releaseCommands.start({ serviceId: row.id, service: row.name, generation: step.generation, hash: step.hash })) return;
  const runId = `release-${row.id}-${step.generation}`;
  store.events.append(row.name, {
    type: 'Normal', reason: 'ReleaseCommandStarted',
    message: `generation ${step.generation}: ${step.reason} (its output: forge logs ${row.name} --instance ${runId})`,
  }, row.id);
  let result;
  try {
    result = await runner({
      key: row.name, runId, purpose: 'release', spec: row.spec, hash: step.hash,
      generation: step.generation, command: step.command, timeoutMs: step.timeoutMs,
    }, { secrets, onRef: (ref) => store.releaseCommands.setRunRef(row.id, step.generation, ref) });
  } catch (thrown) {
    store.releaseCommands.forget(row.id, step.generation);
    throw thrown;
  }
  const outcome = releaseCommandOutcome(result, step.timeoutMs);
  store.releaseCommands.finish(row.id, step.generation, { state: outcome.state, exitCode: result.exitCode, lastLines: result.lastLines, reason: outcome.reason });
  store.events.append(row.name, outcome.state === 'succeeded'
    ? { type: 'Normal', reason: 'ReleaseCommandSucceeded', message: `generation ${step.generation}: the release command exited 0; rolling out` }
    : { type: 'Warning', reason: 'ReleaseCommandExited', message: `generation ${step.generation}: ${outcome.reason}` }, row.id);
}
