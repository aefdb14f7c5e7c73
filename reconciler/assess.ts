// Pure: what a reconcile pass means for a service's lifecycle, from its desired
// state, what is observed, and the actions diff() chose. The controller turns the
// verdict into a lifecycle event; keeping it here makes it a table test.

import type { Action, Desired, Observed } from '../providers/types.ts';

export type Verdict =
  /** Actions are needed; `fresh` when nothing exists yet (creating rather than deploying). */
  | { kind: 'progress'; fresh: boolean; message: string }
  /** Nothing to do, but instances are still starting or not yet healthy. */
  /** `reason`: a Ready condition reason more precise than WaitingForInstances (CrashLoopBackOff). */
  | { kind: 'waiting'; message: string; reason?: string }
  | { kind: 'ready'; message: string }
  | { kind: 'stopped'; message: string }
  | { kind: 'refused'; code: string; message: string }
  | { kind: 'deleting'; gone: boolean; message: string };

export function assess(desired: Desired, observed: Observed | null, actions: readonly Action[]): Verdict {
  const instances = observed?.instances ?? [];
  if (desired.deleting) {
    return instances.length === 0
      ? { kind: 'deleting', gone: true, message: 'all remote objects are gone' }
      : { kind: 'deleting', gone: false, message: `destroying ${instances.length} instance(s)` };
  }
  const refusal = actions.find((a) => a.kind === 'error');
  if (refusal && refusal.kind === 'error') return { kind: 'refused', code: refusal.code, message: refusal.reason };

  const work = actions.filter((a) => a.kind !== 'noop');
  if (work.length > 0) {
    const summary = work.map((a) => a.kind).join(', ');
    return { kind: 'progress', fresh: instances.length === 0, message: `applying ${work.length} action(s): ${summary}` };
  }
  const noop = actions.find((a) => a.kind === 'noop');
  if (noop && noop.kind === 'noop' && noop.blockedBy === 'bad-release') {
    // diff refuses to roll toward a release already marked bad; the old one keeps serving.
    return { kind: 'refused', code: 'E_HEALTH_FAILED', message: noop.reason };
  }
  if (desired.state === 'stopped') {
    const running = instances.filter((i) => i.state !== 'stopped');
    return running.length === 0
      ? { kind: 'stopped', message: 'stopped' }
      : { kind: 'waiting', message: `${running.length} instance(s) still stopping` };
  }
  const notReady = instances.filter((i) => i.state !== 'running' || i.health === 'unhealthy');
  if (notReady.length > 0) {
    const first = notReady[0]!;
    const why = first.reason ?? `${first.state}${first.health === 'unhealthy' ? ', unhealthy' : ''}`;
    return { kind: 'waiting', message: `${notReady.length} of ${instances.length} instance(s) not ready: ${why}` };
  }
  return { kind: 'ready', message: `${instances.length} of ${desired.spec.replicas} instance(s) running` };
}
