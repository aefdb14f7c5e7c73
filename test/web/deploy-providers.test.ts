// The dashboard's deploy dialog offers an image only to providers whose
// capabilities include images (issue 17.4): an agent, which runs source
// services, cannot be picked for one, and says why.

import { test } from 'node:test';
import assert from 'node:assert/strict';

interface Choice { name: string; enabled: boolean; label: string; title: string }
type Availability = { configured: boolean; reason?: string; runs?: { images: boolean; source: boolean } };
interface FormModule {
  imageProviderChoices(providers: Record<string, Availability>): { choices: Choice[]; preferred: string | undefined; hint: string | undefined };
}
// A plain browser module (no types): imported by URL so the type checker does not look for declarations.
const { imageProviderChoices } = (await import(new URL('../../web/deploy-form.js', import.meta.url).href)) as FormModule;

test('only configured providers that run images can be chosen; each other says why', () => {
  const { choices, preferred, hint } = imageProviderChoices({
    agent: { configured: true, runs: { images: false, source: true } },
    fly: { configured: true, runs: { images: true, source: false }, reason: 'FLY_API_TOKEN is set' },
    cloud: { configured: false, reason: 'PROJECT_ID is not set' },
  });
  assert.deepEqual(choices.map((c) => [c.name, c.enabled, c.label]), [
    ['agent', false, 'agent (cannot run images)'], ['fly', true, 'fly'], ['cloud', false, 'cloud (not configured)'],
  ]);
  assert.match(choices[0]!.title, /^agent runs source services: switch "What to deploy"/);
  assert.deepEqual([preferred, hint], ['fly', undefined]);
});

test('with agents only, nothing can be chosen and the hint says what to configure', () => {
  const { choices, preferred, hint } = imageProviderChoices({
    agent: { configured: true, runs: { images: false, source: true } }, fly: { configured: false }, cloud: { configured: false },
  });
  assert.deepEqual(choices.map((c) => c.enabled), [false, false, false]);
  assert.equal(preferred, undefined);
  assert.match(hint!, /^No configured provider runs images: set FLY_API_TOKEN and FLY_ORG/);
});
