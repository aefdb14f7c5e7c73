// A PostgreSQL server for a bench: a throwaway cluster (test/store/pg-cluster.ts: initdb in a temp
// dir, a loopback port, stopped by its pid and removed), or the server BENCH_DATABASE_URL names.
// Each run gets a fresh database of its own, dropped after it. The cluster is stopped on every
// way out the bench can catch (done, an error, SIGINT, SIGTERM).

import { postgresSql } from '../../store/pg-engine.ts';
import type { Sql } from '../../store/sql.ts';
import { type PgCluster, postgresSkipReason, startPgCluster } from '../../test/store/pg-cluster.ts';

export interface BenchPg {
  /** What it is, for the bench's first lines (never a password). */
  readonly description: string;
  /** A new empty database; its URL. */
  createDatabase(name: string): string;
  dropDatabase(name: string): void;
  stop(): Promise<void>;
}

/** Why there is no PostgreSQL to bench against, or undefined when there is. */
export function benchPgSkipReason(givenUrl: string | undefined): string | undefined {
  return givenUrl ? undefined : postgresSkipReason();
}

/**
 * `givenUrl`: a database on a server where the bench may CREATE and DROP its own databases;
 * omitted, a throwaway cluster is started.
 */
export async function startBenchPg(givenUrl: string | undefined): Promise<BenchPg> {
  const cluster: PgCluster | null = givenUrl ? null : await startPgCluster();
  let admin: Sql | null = null;
  let stopped = false;
  let stopping: Promise<void> | null = null;
  const urlFor = (name: string) => {
    if (cluster) return cluster.urlFor(name);
    const url = new URL(givenUrl as string);
    url.pathname = `/${name}`;
    return url.toString();
  };
  // One stop for every caller (the bench's finally and a signal): each waits until the dir is gone.
  const stop = () => (stopping ??= (async () => {
    stopped = true;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    admin?.close();
    await cluster?.stop();
  })());
  const onSignal = (signal: NodeJS.Signals) => {
    void stop().finally(() => process.kill(process.pid, signal));
  };
  // Last resort when the process ends without stop() (process.exit, an uncaught error): no server
  // may outlive the bench. An immediate shutdown; only the temp dir is left behind then.
  const onExit = () => {
    if (!stopped && cluster) {
      try {
        process.kill(cluster.pid, 'SIGQUIT');
      } catch {
        // already gone
      }
    }
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', onExit);
  try {
    admin = postgresSql(cluster ? cluster.adminUrl : (givenUrl as string));
    const version = admin.prepare<[], { v: string }>("SELECT current_setting('server_version') AS v").get()?.v ?? '?';
    return {
      description: cluster ? `PostgreSQL ${version}, a throwaway cluster on 127.0.0.1:${cluster.port} (fsync off)` : `PostgreSQL ${version} at BENCH_DATABASE_URL`,
      createDatabase(name) {
        // Two statements: CREATE DATABASE refuses to run inside a multi-statement string.
        admin!.exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        admin!.exec(`CREATE DATABASE ${name}`);
        return urlFor(name);
      },
      dropDatabase(name) {
        if (stopped) return; // the cluster went with it
        admin!.exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
