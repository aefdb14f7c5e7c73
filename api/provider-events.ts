// A service's events as the API shows them: Forge's own (the store's) merged with
// its provider's (Fly's machine lifecycle: launch, start, exit, restart), oldest
// first, each marked by `source`. Provider events have no store id, so following
// (`after=<id>`) reads the store's alone. Pure, apart from the one provider read.

import type { ProviderEvent } from '../providers/types.ts';
import { toForgeError } from '../errors/index.ts';
import type { ProviderName } from '../specs/types.ts';
import type { EventRow } from '../store/types.ts';

export interface EventJson extends Omit<EventRow, 'id'> {
  /** The store's id; null for a provider's event (not followable by `after`). */
  id: number | null;
  /** `forge` for what the reconciler recorded, else the provider that reported it (`fly`). */
  source: string;
}

const capitalize = (s: string) => (s === '' ? 'Event' : s[0]!.toUpperCase() + s.slice(1));

function isWarning(e: ProviderEvent): boolean {
  return e.oomKilled === true || (e.exitCode !== undefined && e.exitCode !== 0) || /fail/i.test(`${e.type} ${e.status}`);
}

export function providerEventJson(name: string, provider: ProviderName, e: ProviderEvent): EventJson {
  const facts = [
    ...(e.instanceId ? [`machine ${e.instanceId}`] : []),
    ...(e.exitCode !== undefined ? [`exit code ${e.exitCode}`] : []),
    ...(e.oomKilled ? ['OOM killed'] : []),
  ];
  return {
    id: null,
    name,
    time: new Date(e.time).toISOString(),
    type: isWarning(e) ? 'Warning' : 'Normal',
    reason: capitalize(e.type),
    message: `[${provider}/${e.source}] ${e.type}: ${e.status}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}`,
    source: provider,
  };
}

/** Both lists by time (a tie keeps Forge's first), the newest `limit`. */
export function mergeEvents(stored: readonly EventRow[], fromProvider: readonly EventJson[], limit: number): EventJson[] {
  const own: EventJson[] = stored.map((e) => ({ ...e, source: 'forge' }));
  const all = [...own.map((e, i) => ({ e, i })), ...fromProvider.map((e, i) => ({ e, i: own.length + i }))];
  all.sort((a, b) => Date.parse(a.e.time) - Date.parse(b.e.time) || a.i - b.i);
  return all.slice(-limit).map(({ e }) => e);
}

/** The provider's events for one service; a failed read is one Warning event saying so, never a failed request. */
export async function readProviderEvents(
  name: string, provider: ProviderName, read: (key: string, provider: ProviderName) => Promise<ProviderEvent[]>, now: number,
): Promise<EventJson[]> {
  try {
    return (await read(name, provider)).map((e) => providerEventJson(name, provider, e));
  } catch (thrown) {
    const error = toForgeError(thrown, 'E_PROVIDER');
    return [{
      id: null, name, time: new Date(now).toISOString(), type: 'Warning', reason: 'ProviderEventsUnavailable',
      message: `could not read ${provider}'s events for ${name}: ${error.code}: ${error.message}`, source: provider,
    }];
  }
}
