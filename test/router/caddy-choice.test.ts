// chooseCaddy: every start-up case as a table (pure; test/router/start.test.ts runs the real ones).

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { chooseCaddy, type CaddyFacts } from '../../router/caddy-choice.ts';

const BASE: CaddyFacts = {
  admin: 'http://127.0.0.1:2019', adminAddr: '127.0.0.1:2019', adminIsLoopback: true, caddyOnPath: true, holder: 'free', ownLeftBehind: false,
};
const SET = { adminEnv: 'http://127.0.0.1:2019' };

test('chooseCaddy: the operator\'s caddy is used, a managed one starts only on an address nobody else holds', () => {
  const table: Array<[string, Partial<CaddyFacts>, string]> = [
    ['nothing set, address free', {}, 'managed'],
    ['nothing set, a foreign caddy holds the default address', { holder: 'caddy' }, 'off'],
    ['nothing set, another process holds it', { holder: 'other' }, 'off'],
    ['nothing set, our own left-behind caddy holds it', { holder: 'caddy', ownLeftBehind: true }, 'managed'],
    ['nothing set, no caddy binary', { caddyOnPath: false }, 'off'],
    ['FORGE_CADDY_ADMIN, a caddy answers there', { ...SET, holder: 'caddy' }, 'external'],
    ['FORGE_CADDY_ADMIN, a caddy answers there, no binary here', { ...SET, holder: 'caddy', caddyOnPath: false }, 'external'],
    ['FORGE_CADDY_ADMIN, our own left-behind caddy answers there', { ...SET, holder: 'caddy', ownLeftBehind: true }, 'managed'],
    ['FORGE_CADDY_ADMIN, something else listens there', { ...SET, holder: 'other' }, 'refuse'],
    ['FORGE_CADDY_ADMIN free on loopback', { ...SET }, 'managed'],
    ['FORGE_CADDY_ADMIN free on another host', { ...SET, adminIsLoopback: false }, 'external'],
    ['FORGE_CADDY_ADMIN free, no binary', { ...SET, caddyOnPath: false }, 'external'],
    ['--router managed, free', { mode: 'managed' }, 'managed'],
    ['--router managed, a foreign caddy holds it', { mode: 'managed', holder: 'caddy' }, 'refuse'],
    ['--router managed, our left-behind caddy holds it', { mode: 'managed', holder: 'caddy', ownLeftBehind: true }, 'managed'],
    ['--router external', { mode: 'external' }, 'external'],
    ['--router off', { mode: 'off', holder: 'caddy' }, 'off'],
  ];
  for (const [name, facts, kind] of table) assert.equal(chooseCaddy({ ...BASE, ...facts }).kind, kind, name);
});

test('chooseCaddy: refusals and notices say which address is held and by what, and what to set', () => {
  const refused = chooseCaddy({ ...BASE, mode: 'managed', holder: 'caddy' });
  assert.deepEqual(refused, {
    kind: 'refuse',
    message: "not starting a managed caddy: 127.0.0.1:2019 is already in use by a caddy that Forge did not start. Use --router external to route through the caddy there, or set FORGE_CADDY_ADMIN to a free loopback address for Forge's own caddy",
  });
  const off = chooseCaddy({ ...BASE, holder: 'other' });
  assert.equal(off.kind === 'off' && off.why,
    "no router: not starting a managed caddy: 127.0.0.1:2019 is already in use by another process (not a caddy admin API). To route through a caddy there, set FORGE_CADDY_ADMIN=http://127.0.0.1:2019; for Forge's own caddy, set FORGE_CADDY_ADMIN to a free loopback address. Services answer at their instances' direct addresses, which change on redeploy.");
});
