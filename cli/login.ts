// `forge login [--url U] [--api-key K]`: checks the key against the API, then
// saves { url, apiKey } as the profile (mode 0600) the other commands fall back
// to when FORGE_URL / FORGE_API_KEY are not set.

import { ForgeError, isForgeError } from '../errors/index.ts';
import { parseArgs } from './args.ts';
import { createClient, DEFAULT_URL } from './client.ts';
import type { CliDeps } from './deps.ts';
import { success, usageFailure, type CliResult } from './output.ts';
import { splitServerList } from '../net/failover.ts';
import { contextName, writeProfile } from './profile.ts';
import { HELP } from './help.ts';

export const LOGIN_USAGE = HELP.login!.usage;

export async function loginCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('login', args, { values: ['--url', '--api-key'] });
  if (typeof parsed === 'string') return usageFailure(parsed, LOGIN_USAGE);
  if (parsed.positional.length > 0) return usageFailure(`forge login: unexpected argument \`${parsed.positional[0]}\``, LOGIN_USAGE);
  // A comma-separated list names the replicas of one control plane: the context keeps the list.
  const urls = splitServerList(parsed.values.get('--url') ?? deps.env.FORGE_URL?.trim() ?? DEFAULT_URL);
  const bad = urls.length === 0 ? '' : urls.find((u) => !/^https?:\/\/[^/]+/.test(u));
  if (bad !== undefined) return usageFailure(`forge login: --url must be an http(s) URL or a comma-separated list of them, got ${JSON.stringify(bad)}`, LOGIN_USAGE);
  const url = urls.join(',');
  const apiKey = parsed.values.get('--api-key') ?? deps.env.FORGE_API_KEY?.trim();
  if (!apiKey) return usageFailure('forge login: give --api-key KEY (or set FORGE_API_KEY); create one on the control plane with forge keys create', LOGIN_USAGE);

  const client = createClient({ url, apiKey });
  try {
    await client.call('GET', '/api/compute/services');
  } catch (error) {
    if (isForgeError(error) && error.code === 'E_UNAUTHORIZED') {
      throw new ForgeError('E_UNAUTHORIZED', `${url} refused this API key; nothing was saved (create a key with forge keys create on the control plane)`);
    }
    throw error;
  } finally {
    await client.close().catch(() => undefined);
  }
  const file = writeProfile(deps.env, { url, apiKey });
  return success(`logged in to ${url}; saved as context ${contextName(deps.env)} in ${file}\n`);
}
