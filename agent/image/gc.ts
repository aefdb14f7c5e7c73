// Which cached images garbage collection keeps, as a pure rule: every image an
// instance this agent knows uses (running, starting, stopped to be started again,
// or exited and about to be restarted) and every image the control plane named as
// a rollback target of a service here (a run task carries the digests of the
// service's recent succeeded releases: rolling back must not need the registry).
// Everything else — images of releases gone from this agent, superseded builds —
// is removed, and umoci drops the layers no kept image references.

export interface ImageUse {
  digest?: string | undefined;
  retain?: readonly string[] | undefined;
  state?: string;
}

export function imagesToKeep(uses: readonly ImageUse[]): Set<string> {
  const keep = new Set<string>();
  for (const use of uses) {
    if (use.digest !== undefined) keep.add(use.digest);
    for (const d of use.retain ?? []) keep.add(d);
  }
  return keep;
}
