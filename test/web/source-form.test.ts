// The deploy dialog's source mode (issue 17.4), as data: the spec it sends to
// POST /api/v1/apply, the providers it offers (by capabilities), and the runtimes
// (only those an online agent advertised).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSpecObject } from '../../specs/index.ts';

type Availability = { configured: boolean; reason?: string; runs?: { images: boolean; source: boolean } };
interface SourceFormModule {
  sourceSpec(fields: Record<string, string>): { spec: Record<string, unknown> | null; errors: { field: string; message: string }[] };
  runtimeChoices(agents: { online: boolean; revokedAt: string | null; runtimes: string[] }[]): { online: number; choices: { value: string; label: string }[] };
  runtimeValue(advertised: string): string | null;
  applyBody(spec: Record<string, unknown>, digest: string): Record<string, unknown>;
}
interface FormModule {
  providerChoices(providers: Record<string, Availability>, need: 'images' | 'source'): { choices: { name: string; enabled: boolean; label: string }[]; preferred: string | undefined; hint: string | undefined };
}
// Plain browser modules (no types): imported by URL so the type checker does not look for declarations.
const source = (await import(new URL('../../web/source-form.js', import.meta.url).href)) as SourceFormModule;
const form = (await import(new URL('../../web/deploy-form.js', import.meta.url).href)) as FormModule;

test('the fields become a source-mode spec the API validates, with build commands one per line', () => {
  const { spec, errors } = source.sourceSpec({
    name: ' shop ', build: 'npm ci\n\n# a comment\nnpm run build', run: 'node server.js', port: '3000', memory: '256M',
    runtime: 'node20', provider: 'agent', plainEnv: 'MODE=production\nGREETING=a=b',
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(spec, {
    name: 'shop', source: '/bundles/shop', run: { command: 'node server.js' }, build: { commands: ['npm ci', 'npm run build'] },
    port: 3000, memory: '256M', runtime: 'node20', provider: 'agent', env: { MODE: 'production', GREETING: 'a=b' },
  });
  const checked = validateSpecObject(spec);
  assert.ok(checked.ok, JSON.stringify(checked));
  assert.deepEqual(source.applyBody(spec!, 'sha256:ab'), { source: 'api', specs: [spec], bundles: { shop: 'sha256:ab' } });
});

test('missing name and run command, a bad port and a bad env line are all reported by field', () => {
  const { spec, errors } = source.sourceSpec({ name: '', run: ' ', port: '70000', plainEnv: 'lower=x' });
  assert.equal(spec, null);
  assert.deepEqual(errors.map((e) => e.field), ['name', 'run', 'port', 'plainEnv']);
});

test('a source deploy offers only configured providers whose capabilities run source', () => {
  const offer = form.providerChoices({
    agent: { configured: true, runs: { images: false, source: true } },
    fly: { configured: true, runs: { images: true, source: false } },
    cloud: { configured: false, reason: 'PROJECT_ID is not set' },
  }, 'source');
  assert.deepEqual(offer.choices.map((c) => [c.name, c.enabled, c.label]), [
    ['agent', true, 'agent'], ['fly', false, 'fly (cannot run source services)'], ['cloud', false, 'cloud (not configured)'],
  ]);
  assert.equal(offer.preferred, 'agent');
  const none = form.providerChoices({ agent: { configured: true, runs: { images: true, source: false } } }, 'source');
  assert.deepEqual([none.preferred, none.hint], [undefined, 'No configured provider builds and runs source services.']);
});

test('runtimes: only those online, unrevoked agents advertise, as spec values, with how many agents have each', () => {
  assert.deepEqual(['node 20.11.1', 'node 19.1.0', 'python 3.11.7', 'python 3.7.1', 'go 1.22.1', 'bun 1.1.0', '???'].map(source.runtimeValue),
    ['node20', 'node', 'python3.11', 'python3', 'go', 'bun', null]);
  const { online, choices } = source.runtimeChoices([
    { online: true, revokedAt: null, runtimes: ['node 20.11.1', 'python 3.11.7'] },
    { online: true, revokedAt: null, runtimes: ['node 20.10.0'] },
    { online: false, revokedAt: null, runtimes: ['go 1.22.1'] },
    { online: true, revokedAt: '2026-01-01T00:00:00Z', runtimes: ['ruby 3.3.0'] },
  ]);
  assert.equal(online, 2);
  assert.deepEqual(choices.map((c) => [c.value, c.label]), [
    ['', 'any (what the agent has on its PATH)'], ['node20', 'node20 (2 agents)'], ['python3.11', 'python3.11 (1 agent)'],
  ]);
});
