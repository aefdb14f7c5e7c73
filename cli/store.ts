// `forge store migrate --to postgres://…`: moves this data dir's SQLite store into an empty
// PostgreSQL database (store/copy.ts). Runs on the control-plane host with the server stopped.

import { join } from 'node:path';
import { DATABASE_FILE, isPostgresUrl, resolveDataDir } from '../store/index.ts';
import { migrateSqliteToPostgres } from '../store/copy.ts';
import { redactUrl } from '../store/pg-engine.ts';
import { parseArgs } from './args.ts';
import type { CliDeps } from './deps.ts';
import { HELP } from './help.ts';
import { type CliResult, success, usageFailure } from './output.ts';

export const STORE_USAGE = HELP.store!.usage;

export async function storeCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const [sub, ...rest] = args;
  if (sub !== 'migrate') {
    return usageFailure(sub === undefined ? 'forge store: no subcommand given' : `forge store: unknown subcommand \`${sub}\``, STORE_USAGE);
  }
  const parsed = parseArgs('store', rest, { values: ['--to'] });
  if (typeof parsed === 'string') return usageFailure(parsed, STORE_USAGE);
  if (parsed.positional.length > 0) return usageFailure(`forge store migrate: unexpected argument \`${parsed.positional[0]}\``, STORE_USAGE);
  const to = parsed.values.get('--to');
  if (to === undefined || !isPostgresUrl(to)) {
    return usageFailure('forge store migrate: --to must be a postgres:// or postgresql:// URL', STORE_USAGE);
  }
  const file = join(resolveDataDir(deps.env, deps.cwd), DATABASE_FILE);
  const report = migrateSqliteToPostgres(file, to);
  const rows = report.tables.reduce((n, t) => n + t.rows, 0);
  return success([
    `copied ${rows} row(s) from ${report.tables.length} table(s) of ${file} to ${redactUrl(to)}`,
    'start every replica with FORGE_DATABASE_URL set to that URL (and the same FORGE_ENCRYPTION_KEY); keep the SQLite file as a backup',
    '',
  ].join('\n'));
}
