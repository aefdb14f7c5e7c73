// Which caddy Forge routes through, decided from facts gathered at start-up (pure).
// FORGE_CADDY_ADMIN names the operator's caddy: when one answers there, Forge uses it
// and starts none. A managed caddy starts only on an address nobody else holds (or
// one held by the caddy an earlier, crashed run of this data dir left, which is ours
// to replace): two caddys on one admin port would split Forge's route changes
// between them.

import type { AdminHolder } from './caddy-probe.ts';
import { CADDY_INSTALL_HINT } from './managed-caddy.ts';

export type RouterMode = 'managed' | 'external' | 'off';

export interface CaddyFacts {
  /** `--router`, when given. */
  mode?: RouterMode;
  /** FORGE_CADDY_ADMIN as given (trimmed), or undefined. */
  adminEnv?: string;
  /** The admin API base URL an external caddy is reached at. */
  admin: string;
  /** host:port a managed caddy's admin API would listen on (and that was probed). */
  adminAddr: string;
  adminIsLoopback: boolean;
  caddyOnPath: boolean;
  /** Who listens at adminAddr now (not asked for `off` and `external`). */
  holder: AdminHolder;
  /** The holder is the caddy an earlier Forge run on this data dir left behind. */
  ownLeftBehind: boolean;
}

export type CaddyChoice =
  | { kind: 'off'; why: string }
  | { kind: 'external'; admin: string; note: string }
  | { kind: 'managed'; adminAddr: string; note: string }
  | { kind: 'refuse'; message: string };

const NO_ROUTES = "Services answer at their instances' direct addresses, which change on redeploy.";

function heldBy(facts: CaddyFacts): string {
  const who = facts.holder === 'caddy' ? 'a caddy that Forge did not start' : 'another process (not a caddy admin API)';
  return `${facts.adminAddr} is already in use by ${who}`;
}

export function chooseCaddy(facts: CaddyFacts): CaddyChoice {
  const taken = facts.holder !== 'free' && !facts.ownLeftBehind;
  if (facts.mode === 'off') {
    return { kind: 'off', why: `no router: ${facts.caddyOnPath ? 'routing is off (--router off)' : CADDY_INSTALL_HINT}. ${NO_ROUTES}` };
  }
  if (facts.mode === 'external') return { kind: 'external', admin: facts.admin, note: '' };
  if (facts.mode === 'managed') {
    if (!taken) return { kind: 'managed', adminAddr: facts.adminAddr, note: '' };
    return {
      kind: 'refuse',
      message: `not starting a managed caddy: ${heldBy(facts)}. Use --router external to route through the caddy there, or set FORGE_CADDY_ADMIN to a free loopback address for Forge's own caddy`,
    };
  }
  if (facts.adminEnv !== undefined) {
    if (facts.holder === 'caddy' && !facts.ownLeftBehind) return { kind: 'external', admin: facts.admin, note: ' (FORGE_CADDY_ADMIN)' };
    if (taken) {
      return {
        kind: 'refuse',
        message: `FORGE_CADDY_ADMIN=${facts.adminEnv}: ${heldBy(facts)}. Point FORGE_CADDY_ADMIN at your caddy's admin API, or at a free loopback address for Forge's own caddy`,
      };
    }
    if (facts.caddyOnPath && facts.adminIsLoopback) {
      return { kind: 'managed', adminAddr: facts.adminAddr, note: `; no caddy answered at FORGE_CADDY_ADMIN (${facts.adminAddr}), so Forge runs its own there` };
    }
    return { kind: 'external', admin: facts.admin, note: ' (FORGE_CADDY_ADMIN; it does not answer yet, and routes are pushed once it does)' };
  }
  if (!facts.caddyOnPath) return { kind: 'off', why: `no router: ${CADDY_INSTALL_HINT}. ${NO_ROUTES}` };
  if (!taken) return { kind: 'managed', adminAddr: facts.adminAddr, note: '' };
  return {
    kind: 'off',
    why: `no router: not starting a managed caddy: ${heldBy(facts)}. To route through a caddy there, set FORGE_CADDY_ADMIN=http://${facts.adminAddr}; for Forge's own caddy, set FORGE_CADDY_ADMIN to a free loopback address. ${NO_ROUTES}`,
  };
}
