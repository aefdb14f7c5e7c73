// `forge keys create|list|revoke|rotate-encryption`: run on the control-plane
// host, directly on the data dir (FORGE_DATA_DIR) — which is how the first API key
// is made before anything can authenticate.

import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateApiKey } from '../api/auth.ts';
import { SECRET_FILES } from '../api/config.ts';
import { resealRegistries } from '../api/registries.ts';
import { ForgeError } from '../errors/index.ts';
import { createCipher, parseEncryptionKey } from '../store/cipher.ts';
import { openStore, resolveDataDir, storeLocation, type Store } from '../store/index.ts';
import type { CliDeps } from './deps.ts';
import { parseArgs } from './args.ts';
import { HELP } from './help.ts';
import { EXIT, success, toJsonText, usageFailure, type CliResult } from './output.ts';

export const KEYS_USAGE = HELP.keys!.usage;

type KeysDeps = CliDeps & { random?: (n: number) => Buffer };

function withStore<T>(deps: CliDeps, fn: (store: Store, dataDir: string) => T): T {
  const dataDir = resolveDataDir(deps.env, deps.cwd);
  const store = openStore(storeLocation(deps.env, dataDir));
  try {
    return fn(store, dataDir);
  } finally {
    store.close();
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows.map((r) => r.map((cell, col) => cell.padEnd(widths[col]!)).join('  ').trimEnd()).join('\n') + '\n';
}

interface Resealed {
  rewritten: number;
  total: number;
  registries: { rewritten: number; total: number };
}

/** Re-seals every value not under keys[0] (secret values and registry passwords); in one transaction, so a failure changes nothing. */
export function reencryptAll(store: Store, keys: readonly Buffer[]): Resealed {
  const cipher = createCipher(keys);
  return store.transaction(() => {
    const registries = resealRegistries(store, cipher);
    const rows = store.secrets.allRows();
    let rewritten = 0;
    for (const row of rows) {
      if (row.keyId === cipher.currentKeyId) continue;
      const value = cipher.open(row.name, row.key, { ciphertext: row.ciphertext, keyId: row.keyId });
      const sealed = cipher.seal(row.name, row.key, value);
      store.secrets.put(row.name, row.key, sealed.ciphertext, sealed.keyId);
      rewritten += 1;
    }
    return { rewritten, total: rows.length, registries };
  });
}

/** What was re-sealed, in words; registry credentials are named only where there are any. */
function resealed(done: Resealed): string {
  const registries = done.registries.total === 0 ? '' : ` and ${done.registries.rewritten} of ${done.registries.total} registry credential(s)`;
  return `re-encrypted ${done.rewritten} of ${done.total} secret value(s)${registries}`;
}

function rotate(deps: KeysDeps): CliResult {
  const random = deps.random ?? randomBytes;
  const envKeys = deps.env.FORGE_ENCRYPTION_KEY?.trim();
  if (envKeys) {
    const keys = envKeys.split(/[\s,]+/).filter((s) => s !== '').map(parseEncryptionKey);
    if (keys.length === 1) {
      // The running control plane must know the new key before any value is sealed under it.
      const fresh = random(32).toString('base64');
      return success([
        'FORGE_ENCRYPTION_KEY holds one key. To rotate without downtime:',
        `  1. set FORGE_ENCRYPTION_KEY=${fresh},${envKeys} on the control plane and restart it`,
        '  2. run `forge keys rotate-encryption` again with that value: every secret is re-encrypted under the first key',
        '  3. then drop the old key from FORGE_ENCRYPTION_KEY',
        '',
      ].join('\n'));
    }
    const done = withStore(deps, (store) => reencryptAll(store, keys));
    return success(`${resealed(done)} under the first key of FORGE_ENCRYPTION_KEY; the other keys may now be removed\n`);
  }
  return withStore(deps, (store, dataDir) => {
    const file = join(dataDir, SECRET_FILES.encryptionKey);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new ForgeError('E_USAGE', `no encryption key in ${file} and FORGE_ENCRYPTION_KEY is not set: nothing to rotate`);
    }
    const old = text.split(/\s+/).filter((s) => s !== '');
    old.forEach(parseEncryptionKey);
    const fresh = random(32);
    // New key first (it seals), old ones kept so a running control plane can still open what it sealed meanwhile.
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, [fresh.toString('base64'), ...old].join('\n') + '\n', { mode: 0o600 });
    renameSync(tmp, file);
    const done = reencryptAll(store, [fresh, ...old.map(parseEncryptionKey)]);
    return success(`${resealed(done)} under a new key written to ${file}; the running control plane picks it up without a restart\n`);
  });
}

export async function keysCommand(args: readonly string[], deps: KeysDeps): Promise<CliResult> {
  const [sub, ...rest] = args;
  const flags = parseArgs('keys', rest, { booleans: ['--json'], values: ['--name'] });
  if (typeof flags === 'string') return usageFailure(flags, KEYS_USAGE);
  const parsed = { set: flags.booleans, values: flags.values, rest: flags.positional };
  const json = parsed.set.has('--json');
  switch (sub) {
    case 'create': {
      if (parsed.rest.length > 0) return usageFailure(`forge keys create: unexpected argument \`${parsed.rest[0]}\``, KEYS_USAGE);
      const name = parsed.values.get('--name') ?? 'default';
      const made = generateApiKey(deps.random);
      const row = withStore(deps, (store) => store.apiKeys.create({ name, hash: made.hash, prefix: made.prefix }));
      if (json) return success(toJsonText({ key: made.key }));
      return success(`created API key ${row.name} (${row.id})\n${made.key}\nThis is the only time the key is shown; store it now (e.g. FORGE_API_KEY).\n`);
    }
    case 'list': {
      const rows = withStore(deps, (store) => store.apiKeys.list());
      const shown = rows.map(({ hash: _hash, ...row }) => row);
      if (json) return success(toJsonText(shown));
      if (shown.length === 0) return success('no API keys (create one with `forge keys create`)\n');
      return success(table([['ID', 'NAME', 'PREFIX', 'CREATED', 'LAST USED', 'REVOKED'],
        ...shown.map((r) => [r.id, r.name, r.prefix, r.createdAt, r.lastUsedAt ?? '-', r.revokedAt ?? '-'])]));
    }
    case 'revoke': {
      const [ref, extra] = parsed.rest;
      if (ref === undefined || extra !== undefined) return usageFailure('forge keys revoke: give one key id or name', KEYS_USAGE);
      const count = withStore(deps, (store) => store.apiKeys.revoke(ref));
      if (count === 0) return { exitCode: EXIT.failed, stdout: '', stderr: `forge keys revoke: no active key with id or name ${ref}\n` };
      return success(`revoked ${count} key(s) matching ${ref}\n`);
    }
    case 'rotate-encryption':
      if (parsed.rest.length > 0 || parsed.set.size > 0) return usageFailure('forge keys rotate-encryption takes no arguments', KEYS_USAGE);
      return rotate(deps);
    case 'help':
      return success(`${KEYS_USAGE}\n`);
    default:
      return usageFailure(sub === undefined ? 'forge keys: no subcommand given' : `forge keys: unknown subcommand \`${sub}\``, KEYS_USAGE);
  }
}
