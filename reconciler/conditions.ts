// Kubernetes-style conditions: setting one keeps its lastTransitionTime unless
// its status actually flips, so "since when" stays meaningful.

import type { Condition } from '../store/types.ts';

export function setCondition(
  conditions: readonly Condition[],
  next: Omit<Condition, 'lastTransitionTime'>,
  now: number,
): Condition[] {
  const existing = conditions.find((c) => c.type === next.type);
  const lastTransitionTime =
    existing && existing.status === next.status ? existing.lastTransitionTime : new Date(now).toISOString();
  const updated: Condition = { ...next, lastTransitionTime };
  const others = conditions.filter((c) => c.type !== next.type);
  return [...others, updated].sort((a, b) => a.type.localeCompare(b.type));
}

export function removeCondition(conditions: readonly Condition[], type: string): Condition[] {
  return conditions.filter((c) => c.type !== type);
}
