// App-level setup the Fly provider does before a machine can serve: public IPs
// (a shared IPv4 and an IPv6, never silently IPv6-only) and app secrets (Fly's
// vault, so secret values never sit in a machine config anyone can read).

import { ForgeError } from '../../errors/index.ts';
import type { FlyIpAssignment } from './api-types.ts';
import type { FlyClient } from './client.ts';
import { isAmbiguousFlyError } from './errors.ts';

const IP_ROUNDS = 4;

export interface IpCoverage {
  v4: boolean;
  v6: boolean;
}

export function ipCoverage(ips: readonly FlyIpAssignment[]): IpCoverage {
  const addresses = ips.map((ip) => ip.ip ?? '').filter((a) => a !== '');
  return { v4: addresses.some((a) => !a.includes(':')), v6: addresses.some((a) => a.includes(':')) };
}

/**
 * Makes sure the app has a shared IPv4 and an IPv6. A fresh app is known to have
 * none, so it skips the first listing. An allocation that answers without an
 * address, or fails ambiguously, is checked by listing again before retrying.
 */
export async function ensurePublicIps(client: FlyClient, app: string, freshApp: boolean): Promise<void> {
  let have: IpCoverage = freshApp ? { v4: false, v6: false } : ipCoverage(await client.listIps(app));
  for (let round = 0; round < IP_ROUNDS && !(have.v4 && have.v6); round++) {
    if (round > 0) have = ipCoverage(await client.listIps(app));
    try {
      // IPv4 first: if only one family can be had, the app must not end up v6-only unnoticed.
      if (!have.v4) have = { ...have, v4: ipCoverage([await client.allocateIp(app, 'shared_v4')]).v4 };
      if (!have.v6) have = { ...have, v6: ipCoverage([await client.allocateIp(app, 'v6')]).v6 };
    } catch (err) {
      if (!isAmbiguousFlyError(err)) throw err;
    }
  }
  if (!have.v4 || !have.v6) {
    const missing = [!have.v4 ? 'a shared IPv4' : '', !have.v6 ? 'an IPv6' : ''].filter(Boolean).join(' and ');
    throw new ForgeError('E_PROVIDER', `Fly app ${app} has no ${missing} address after ${IP_ROUNDS} attempts; not deploying an app that cannot be reached`, {
      details: { app, v4: have.v4, v6: have.v6 },
    });
  }
}

/**
 * Makes the app's secrets exactly `values` (set what is given, unset the rest) and
 * returns the secrets version machines must boot with. Values travel only in the
 * request body; errors name secrets, never values.
 */
export async function syncAppSecrets(client: FlyClient, app: string, values: Record<string, string>, freshApp: boolean): Promise<number | undefined> {
  const wanted = Object.keys(values);
  let version: number | undefined;
  let present: string[];
  if (wanted.length > 0) {
    const res = await client.setSecrets(app, values);
    version = res.version;
    present = res.names;
  } else if (freshApp) {
    return undefined;
  } else {
    present = await client.listSecretNames(app);
  }
  for (const name of present) {
    if (values[name] !== undefined) continue;
    version = (await client.deleteSecret(app, name)) ?? version;
  }
  return version;
}
