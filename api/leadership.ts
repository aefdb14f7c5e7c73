// Which replica runs the reconcile loop (and with it the route sync). With SQLite there is one
// process: it always does. With PostgreSQL, every replica serves the API and only the elected
// leader runs the loop, its writes fenced by its term (store/leader.ts, Store.fence): a replica
// that is deposed keeps refusing writes until its loop has stopped, then serves the API again.

import { hostname } from 'node:os';
import { Counter, Gauge, type Registry } from 'prom-client';
import { type Election, startElection } from '../store/leader.ts';
import type { Store } from '../store/index.ts';

export interface LeadershipState {
  /** `single`: one SQLite process, always the one that reconciles. */
  role: 'single' | 'leader' | 'standby';
  term: number;
  replica: string;
}

export interface Leadership {
  state(): LeadershipState;
  stop(): Promise<void>;
}

export interface LeadershipOptions {
  store: Store;
  /** The PostgreSQL URL when the store is there; undefined for SQLite. */
  databaseUrl: string | undefined;
  /** Started on election (awaited: a new leader first re-reads what its providers observe), stopped on losing it. */
  loop: { start(): void | Promise<void>; stop(): Promise<void> };
  registry: Registry;
  /** FORGE_REPLICA, default the host name. */
  replica?: string;
  pollMs?: number;
  sessionTimeoutMs?: number;
  onError?(error: Error): void;
}

export function startLeadership(options: LeadershipOptions): Leadership {
  const replica = options.replica ?? hostname();
  const gauge = new Gauge({
    name: 'forge_leader', help: '1 while this replica is the leader (runs the reconcile loop), else 0.',
    labelNames: ['replica'], registers: [options.registry],
  });
  const changes = new Counter({
    name: 'forge_leader_changes_total', help: 'Times this replica became leader or stopped being it.',
    registers: [options.registry],
  });
  let fencedSeen = 0;
  new Counter({
    name: 'forge_fenced_writes_total',
    help: 'Writes this replica made under a leader term that was over (it was deposed, e.g. paused), refused by the database.',
    registers: [options.registry],
    collect() {
      const now = options.store.fencedWrites();
      if (now > fencedSeen) this.inc(now - fencedSeen);
      fencedSeen = now;
    },
  });
  const report = (error: unknown) => options.onError?.(error instanceof Error ? error : new Error(String(error)));
  if (options.databaseUrl === undefined) {
    gauge.set({ replica }, 1);
    // A start that fails is reported, never an unhandled rejection.
    try {
      void Promise.resolve(options.loop.start()).catch(report);
    } catch (error) {
      report(error);
    }
    return { state: () => ({ role: 'single', term: 0, replica }), stop: () => options.loop.stop() };
  }
  gauge.set({ replica }, 0);
  let transitions: Promise<void> = Promise.resolve();
  let leading = false;
  // onChange runs from the election's timers, never during this call: `election` is set by then.
  const election: Election = startElection({
    url: options.databaseUrl, replica,
    ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
    ...(options.sessionTimeoutMs !== undefined ? { sessionTimeoutMs: options.sessionTimeoutMs } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
    onChange(next) {
      if (next.leader === leading && !next.leader) return;
      transitions = transitions.then(async () => {
        if (next.leader) {
          options.store.fence(next.term);
          if (!leading) {
            leading = true;
            changes.inc();
            gauge.set({ replica }, 1);
            await options.loop.start();
          }
          return;
        }
        leading = false;
        changes.inc();
        gauge.set({ replica }, 0);
        // Fenced under the old term until the loop has stopped: none of its writes can land.
        await options.loop.stop();
        if (!election.state().leader) options.store.fence(null);
      }).catch((error: unknown) => {
        // One failed step (a loop that did not start or stop) is reported; the chain goes on, so
        // every later transition still runs.
        report(error);
      });
    },
  });
  return {
    state: () => {
      const s = election.state();
      return { role: s.leader ? 'leader' : 'standby', term: s.term, replica };
    },
    async stop() {
      await election.stop();
      await transitions;
      await options.loop.stop();
    },
  };
}
