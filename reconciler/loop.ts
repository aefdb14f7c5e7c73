// The level-triggered loop: a work queue keyed by service name (deduplicated, one
// worker per key, bounded concurrency across keys), nudged by writes and provider
// reports, plus a periodic resync. The resync is a cheap no-op pass: one summary
// query, one cached observe() per provider, and an in-memory diff per service;
// only keys that need work are queued.

import type { Desired, Observed, Provider } from '../providers/types.ts';
import type { Store } from '../store/index.ts';
import type { DesiredRow, StatusRow } from '../store/types.ts';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.ts';
import type { Controller } from './controller.ts';
import type { ReconcilerMetrics } from './metrics.ts';
import { needsPass, routeFor } from './plan.ts';

export interface LoopOptions {
  store: Store;
  controller: Controller;
  providers(): Provider[];
  concurrency?: number;
  /** Full resync period; 0 turns the timer off (tests call resync() themselves). */
  resyncIntervalMs?: number;
  backoff?: BackoffPolicy;
  random?: () => number;
  now?: () => number;
  metrics?: ReconcilerMetrics;
  onError?: (key: string, error: unknown) => void;
  /**
   * Caddy's route table. Each resync recomputes every agent service's route from
   * desired + observed and pushes the whole table, so routes are level-triggered too.
   */
  routes?: {
    /** `asOf`: when the observed state behind `entries` was read; routes set after that are newer and kept. */
    replaceAll(entries: ReadonlyMap<string, { domains: string[]; upstreams: string[] }>, asOf: number): void;
    get(name: string): { domains: string[]; upstreams: string[] } | undefined;
    /** May resolve to `{ foreign: [{ id?, hosts, services }] }`: routes removed from Forge's server that were not Forge's. */
    sync(): Promise<unknown>;
  };
}

/** The few status fields the no-op pass compares (full rows stay in the store). */
interface CachedStatus {
  phase: StatusRow['phase'];
  observedGeneration: number;
  errorCode: string | undefined;
}

function cachedStatus(row: StatusRow): CachedStatus {
  return { phase: row.phase, observedGeneration: row.observedGeneration, errorCode: row.lastError?.code };
}

interface CachedDesired {
  desired: Desired;
  badHash: boolean;
  /** The resync epoch that last saw this row; an observed key not seen this pass is an orphan. */
  seen: number;
  /** The last no-op decision and the inputs it was made from (compared by identity). */
  memo?: { instances: readonly unknown[] | undefined; status: CachedStatus; answer: boolean };
}

export interface ResyncReport {
  services: number;
  queued: number;
  orphans: number;
}

export function createLoop(options: LoopOptions) {
  const concurrency = options.concurrency ?? 4;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;

  const queue: string[] = [];
  const queued = new Set<string>();
  const active = new Set<string>();
  const dirty = new Set<string>();
  const timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  const failures = new Map<string, number>();
  const desiredCache = new Map<string, CachedDesired>();
  const statusCache = new Map<string, CachedStatus>();
  let resyncTimer: NodeJS.Timeout | undefined;
  let epoch = 0;
  let running = false;
  let idleWaiters: Array<() => void> = [];
  const unsubscribers: Array<() => void> = [];

  function updateDepth(): void {
    options.metrics?.queueDepth.set(queue.length);
  }

  function nudge(key: string): void {
    if (active.has(key)) {
      dirty.add(key);
      return;
    }
    if (queued.has(key)) return;
    queued.add(key);
    queue.push(key);
    updateDepth();
    pump();
  }

  function requeueAfter(key: string, delayMs: number): void {
    const at = now() + delayMs;
    const existing = timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      timers.delete(key);
      if (running) nudge(key);
    }, delayMs);
    timer.unref();
    timers.set(key, { at, timer });
  }

  function remember(key: string, row: DesiredRow | null | undefined, badHash: boolean | undefined, status: StatusRow | null | undefined): void {
    if (row === null) desiredCache.delete(key);
    else if (row) {
      desiredCache.set(key, {
        desired: { key, spec: row.spec, hash: row.hash, generation: row.generation, state: row.state, deleting: row.deleting },
        badHash: badHash ?? false,
        seen: epoch,
      });
    }
    if (status === null) statusCache.delete(key);
    else if (status) statusCache.set(key, cachedStatus(status));
  }

  async function work(key: string): Promise<void> {
    active.add(key);
    try {
      const outcome = await options.controller.reconcile(key);
      remember(key, outcome.desired, outcome.badHash, outcome.status);
      if (outcome.result === 'error') {
        const attempt = (failures.get(key) ?? 0) + 1;
        failures.set(key, attempt);
        requeueAfter(key, backoffDelay(attempt, random, backoff));
      } else {
        failures.delete(key);
        if (outcome.requeueAfterMs !== undefined) requeueAfter(key, outcome.requeueAfterMs);
      }
    } catch (error) {
      // A throw here is a bug or an unexpected store error: keep the loop alive and retry.
      options.onError?.(key, error);
      const attempt = (failures.get(key) ?? 0) + 1;
      failures.set(key, attempt);
      requeueAfter(key, backoffDelay(attempt, random, backoff));
    } finally {
      active.delete(key);
      if (dirty.delete(key)) nudge(key);
      pump();
    }
  }

  function pump(): void {
    if (!running) return;
    while (active.size < concurrency && queue.length > 0) {
      // Skip keys already being worked: they are marked dirty and come back after.
      const index = queue.findIndex((k) => !active.has(k));
      if (index < 0) break;
      const [key] = queue.splice(index, 1) as [string];
      queued.delete(key);
      updateDepth();
      void work(key);
    }
    if (queue.length === 0 && active.size === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  function loadCaches(): void {
    options.store.services.forEach((row) => remember(row.name, row, options.store.releases.isBad(row.name, row.hash), undefined));
    // Small columns for everyone; the full row (for its error code) only where a service failed.
    for (const summary of options.store.status.summaries()) {
      const full = summary.phase === 'failed' ? options.store.status.get(summary.name) : null;
      statusCache.set(summary.name, full ? cachedStatus(full) : { phase: summary.phase, observedGeneration: summary.observedGeneration, errorCode: undefined });
    }
  }

  /** The no-op pass: decide in memory which keys need a reconcile, and queue only those. */
  async function resync(): Promise<ResyncReport> {
    epoch += 1;
    const snapshotAt = Date.now();
    const observedByKey = new Map<string, Observed>();
    const byProvider = new Map<string, Provider>();
    const unreachable = new Set<string>();
    for (const provider of options.providers()) {
      byProvider.set(provider.name, provider);
      try {
        await provider.resync?.();
        for (const observed of await provider.observe()) observedByKey.set(observed.key, observed);
      } catch (error) {
        // One provider down must not stop drift repair and routes for the others.
        unreachable.add(provider.name);
        options.onError?.(`provider ${provider.name}`, error);
      }
    }
    const summaries = options.store.services.summaries();
    let queuedCount = 0;
    const t = now();
    for (const summary of summaries) {
      const cached = desiredCache.get(summary.name);
      if (cached) cached.seen = epoch;
      if (cached && unreachable.has(cached.desired.spec.provider)) continue;
      const status = statusCache.get(summary.name);
      const stale = !cached || cached.desired.generation !== summary.generation || cached.desired.hash !== summary.hash
        || cached.desired.state !== summary.state || cached.desired.deleting !== summary.deleting;
      if (stale || !status || needsWork(cached, status, observedByKey.get(summary.name), byProvider, t)) {
        nudge(summary.name);
        queuedCount += 1;
      }
    }
    // Without a routed provider's picture the table would route everything nowhere: keep Caddy as it is.
    const routedUnreachable = [...unreachable].some((name) => byProvider.get(name)?.capabilities.routing === 'forge');
    if (options.routes && !routedUnreachable) await syncRoutes(summaries, observedByKey, byProvider, snapshotAt);
    let orphans = 0;
    for (const key of observedByKey.keys()) {
      if (desiredCache.get(key)?.seen !== epoch && !queued.has(key)) {
        nudge(key);
        orphans += 1;
      }
    }
    return { services: summaries.length, queued: queuedCount, orphans };
  }

  async function syncRoutes(
    summaries: ReadonlyArray<{ name: string }>, observedByKey: ReadonlyMap<string, Observed>, byProvider: ReadonlyMap<string, Provider>, snapshotAt: number,
  ): Promise<void> {
    const table = new Map<string, { domains: string[]; upstreams: string[] }>();
    for (const { name } of summaries) {
      const cached = desiredCache.get(name);
      if (!cached || cached.desired.deleting) continue;
      if (byProvider.get(cached.desired.spec.provider)?.capabilities.routing !== 'forge') continue;
      // A key being reconciled or drained right now is routed by its reconcile, from state
      // fresher than this pass's snapshot: keep what it set.
      const current = options.routes!.get(name);
      if (current && (active.has(name) || options.controller.drainingOf(name))) {
        table.set(name, current);
        continue;
      }
      table.set(name, routeFor(cached.desired, observedByKey.get(name) ?? null, cached.badHash));
    }
    // A reconcile that finished while this pass was reading may have routed a key
    // from fresher state than this snapshot: the router keeps those entries.
    options.routes!.replaceAll(table, snapshotAt);
    const synced = (await options.routes!.sync()) as { foreign?: Array<{ id?: string; hosts: string[]; services: string[] }> } | undefined;
    // Someone put a route into Forge's Caddy server (an app that reached the admin API): it is gone now; say so.
    for (const route of synced?.foreign ?? []) {
      const what = `${route.id === undefined ? 'a route without @id' : `route '${route.id}'`} for ${route.hosts.join(', ') || 'any host'}`;
      for (const name of route.services) {
        options.store.events.append(name, { type: 'Warning', reason: 'ForeignRouteRemoved', message: `${what} in Forge's Caddy server was not Forge's; removed` });
      }
    }
  }

  function needsWork(
    cached: CachedDesired, status: CachedStatus, observed: Observed | undefined, byProvider: ReadonlyMap<string, Provider>, t: number,
  ): boolean {
    // diff is pure and its inputs are immutable values: when a provider hands out the
    // same instances array as last pass (a cache that did not change), the answer is
    // the same and a steady service costs a few comparisons; a new array runs diff.
    const instances = observed?.instances;
    const memo = cached.memo;
    if (memo && memo.instances === instances && memo.status === status) return memo.answer;
    const answer = decideNeedsWork(cached, status, observed, byProvider, t);
    cached.memo = { instances, status, answer };
    return answer;
  }

  function decideNeedsWork(
    cached: CachedDesired, status: CachedStatus, observed: Observed | undefined, byProvider: ReadonlyMap<string, Provider>, t: number,
  ): boolean {
    const provider = byProvider.get(cached.desired.spec.provider);
    return needsPass({
      desired: cached.desired, observed, capabilities: provider?.capabilities ?? null, releaseBad: cached.badHash, now: t, status,
    });
  }

  function start(): void {
    if (running) return;
    running = true;
    loadCaches();
    for (const provider of options.providers()) {
      const off = provider.onChange?.((key) => nudge(key));
      if (off) unsubscribers.push(off);
    }
    const interval = options.resyncIntervalMs ?? 30_000;
    if (interval > 0) {
      const tick = () => {
        resync().catch((error) => options.onError?.('*', error)).finally(() => {
          if (running) resyncTimer = setTimeout(tick, interval);
        });
      };
      resyncTimer = setTimeout(tick, 0);
    }
    pump();
  }

  async function stop(): Promise<void> {
    running = false;
    if (resyncTimer) clearTimeout(resyncTimer);
    for (const { timer } of timers.values()) clearTimeout(timer);
    timers.clear();
    for (const off of unsubscribers.splice(0)) off();
    while (active.size > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  /** Resolves when nothing is queued or running (scheduled requeues may still be pending). */
  function idle(): Promise<void> {
    if (queue.length === 0 && active.size === 0) return Promise.resolve();
    return new Promise((resolve) => idleWaiters.push(resolve));
  }

  function pendingRequeues(): number {
    return timers.size;
  }

  return { start, stop, nudge, resync, idle, pendingRequeues };
}

export type Loop = ReturnType<typeof createLoop>;
